import crypto from 'node:crypto';

const DECISION_NAMESPACE = 'risk-stream/decision/v1:';

/** Deterministic decision id: a name-based (v5-style) UUID of the event id. */
export function decisionId(eventId: string): string {
  return nameUuid(DECISION_NAMESPACE + eventId);
}

/** A name-based (v5-style) UUID. */
export function nameUuid(name: string): string {
  const h = crypto.hash('sha1', name, 'buffer');
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
