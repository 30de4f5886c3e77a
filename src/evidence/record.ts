import { createHash } from 'node:crypto';
import type { ClientPart, EvidenceRecord, FingerprintSnapshot } from '../contract';

export { CLIENT_PARTS, type ClientPart, type EvidenceRecord } from '../contract';

/**
 * Evidence records: what an auditor needs to see why a session was answered the way it was. One per
 * sensitive action and per non-ALLOW decision, written to the audit topic (JSON, keyed by session)
 * in the same produce request as the decision.
 *
 * The records of a session form a hash chain: each carries `prev_hash`, the `hash` of the record
 * before it, and its own `hash` is the SHA-256 of its canonical JSON (RFC 8785 style: keys sorted,
 * no whitespace) without the `hash` field. Changing a record breaks its hash; deleting one breaks
 * the next record's `prev_hash` and leaves a gap in `seq`.
 *
 * A session whose state expired (idle) and then sees activity again starts a new chain (`chain` is
 * the evidence_id of a chain's first record). A batch re-decided after a crash, before its state
 * was saved, writes its records again with the same `evidence_id` and `seq`: `verify` treats such
 * copies as one record.
 */

export const EVIDENCE_VERSION = 1;
export const GENESIS_HASH = '0'.repeat(64);

export type UnhashedEvidence = Omit<
  EvidenceRecord,
  'hash' | 'chain' | 'seq' | 'prev_hash' | 'evidence_version'
>;

/** The head of a session's chain, kept in the session's policy state. */
export interface ChainHead {
  chain: string;
  seq: number;
  hash: string;
}

/** JSON with object keys sorted at every level and no whitespace: the bytes that are hashed. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash a record must carry: SHA-256 (hex) of its canonical JSON without `hash`. */
export function evidenceHash(record: Omit<EvidenceRecord, 'hash'> | EvidenceRecord): string {
  const { hash: _ignored, ...rest } = record as EvidenceRecord;
  return createHash('sha256').update(canonicalJson(rest), 'utf8').digest('hex');
}

/** Links a record to its session's chain (null head: a new chain) and seals it. */
export function chainEvidence(
  head: ChainHead | null,
  body: UnhashedEvidence,
): { record: EvidenceRecord; head: ChainHead } {
  const unsealed: Omit<EvidenceRecord, 'hash'> = {
    evidence_version: EVIDENCE_VERSION,
    ...body,
    chain: head?.chain ?? body.evidence_id,
    seq: (head?.seq ?? 0) + 1,
    prev_hash: head?.hash ?? GENESIS_HASH,
  };
  const record: EvidenceRecord = { ...unsealed, hash: evidenceHash(unsealed) };
  return { record, head: { chain: record.chain, seq: record.seq, hash: record.hash } };
}

type Snapshot = Pick<FingerprintSnapshot, 'ip' | 'asn' | 'country' | 'ua' | 'ja4' | 'dev'>;

/** Parts of the client that differ from the previous action's (none for a session's first action). */
export function changedParts(now: Snapshot, prev: Snapshot | null): ClientPart[] {
  if (!prev) return [];
  const out: ClientPart[] = [];
  if (now.ip !== prev.ip) out.push('ip');
  if (now.asn !== prev.asn) out.push('asn');
  if (now.country !== prev.country) out.push('country');
  if (now.ua !== prev.ua) out.push('user_agent');
  if (now.ja4 !== prev.ja4) out.push('ja4');
  if (now.dev !== prev.dev) out.push('device_id');
  return out;
}

/** Parts never seen earlier in the session (the window's `seen` flags; ip is not tracked there). */
export function newParts(
  seen: { ua: boolean; ja4: boolean; dev: boolean; asn: boolean; country: boolean },
  first: boolean,
): ClientPart[] {
  if (first) return [];
  const out: ClientPart[] = [];
  if (!seen.asn) out.push('asn');
  if (!seen.country) out.push('country');
  if (!seen.ua) out.push('user_agent');
  if (!seen.ja4) out.push('ja4');
  if (!seen.dev) out.push('device_id');
  return out;
}
