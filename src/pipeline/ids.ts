import crypto from 'node:crypto';
import type { Decision, SessionAction } from '../contract';

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

/** The fields of a decision that come from its action, its id (decisionId) and when it was made. */
export function decisionHeader(
  action: SessionAction,
  id: string,
  decidedAt: number,
): Pick<Decision, 'decision_id' | 'event_id' | 'session_id' | 'user_id' | 'app' | 'event_ts' | 'decided_at'> {
  return {
    decision_id: id,
    event_id: action.event_id,
    session_id: action.session_id,
    user_id: action.user_id,
    app: action.app,
    event_ts: action.ts,
    decided_at: decidedAt,
  };
}
