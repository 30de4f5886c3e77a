import { createHash } from 'node:crypto';
import type { DecisionType, EvidenceRecord } from '../../../src/contract';
import { chainEvidence, type ChainHead, type UnhashedEvidence } from '../../../src/evidence/record';

export const T0 = 1_760_000_000_000;
export const MIN = 60_000;

/** A name-based UUID, like the pipeline's evidence and decision ids (stable across runs). */
export function uuidOf(name: string): string {
  const x = createHash('sha1').update(name).digest('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-5${x.slice(13, 16)}-8${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

export interface BodyOptions {
  user?: string;
  /** Event time; decided 35 ms later unless `decidedAt` says otherwise. */
  ts?: number;
  decidedAt?: number;
  action?: string;
  records?: number | null;
  decision?: DecisionType;
  score?: number;
  sensitivity?: string;
  rule?: string;
  deviceId?: string;
  features?: Record<string, number> | null;
}

/**
 * The body of the `n`th recorded action of a session, as src/pipeline/process.ts builds it: a
 * BLOCK_ACTION on an export from a device new to the session unless told otherwise.
 */
export function evidenceBody(session: string, n: number, o: BodyOptions = {}): UnhashedEvidence {
  const ts = o.ts ?? T0 + n * MIN;
  const user = o.user ?? 'u-alice';
  const eventId = uuidOf(`event:${session}:${n}`);
  const decisionId = uuidOf(`decision:${eventId}`);
  const name = o.action ?? 'export';
  return {
    evidence_id: uuidOf(`evidence:${decisionId}`),
    session_id: session,
    user_id: user,
    decision_id: decisionId,
    event_id: eventId,
    event_ts: ts,
    decided_at: o.decidedAt ?? ts + 35,
    action: {
      event_id: eventId,
      ts,
      session_id: session,
      user_id: user,
      principal_type: 'EMPLOYEE',
      app: 'salesforce',
      action: name,
      resource: name === 'export' ? 'report/q3-pipeline' : null,
      records: o.records === undefined ? (name === 'export' ? 1200 : null) : o.records,
      mfa: true,
      client: {
        ip: '185.220.101.7',
        asn: 208294,
        country: 'NL',
        lat: 52.37,
        lon: 4.89,
        user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
        ja4: 't13d1715h2_5b57614c22b0_3d5424432f57',
        device_id: o.deviceId ?? 'dev-7f3a',
        accept_language: 'nl-NL',
      },
    },
    fingerprint: {
      id: 'fp-9c41e2',
      changed: ['ip', 'asn', 'country', 'user_agent', 'ja4', 'device_id'],
      new_to_session: ['asn', 'country', 'user_agent', 'ja4', 'device_id'],
    },
    sensitivity: o.sensitivity ?? 'high',
    features:
      o.features === undefined
        ? { ua_changed_base: 1, new_device: 1, asn_changed_prev: 1, travel_speed: 812.5, rate_1m: 3 }
        : o.features,
    score: o.score ?? 0.8731,
    model_version: 'session-risk/3',
    policy_version: 'default@1#4be0c2d1',
    policy_rule: o.rule ?? 'responses.high.high',
    decision: o.decision ?? 'BLOCK_ACTION',
    reasons: [
      { code: 'NEW_DEVICE', detail: 'device dev-7f3a never seen in this session', weight: 0.41 },
      { code: 'ASN_CHANGED', detail: 'AS7922 -> AS208294', weight: 0.33 },
    ],
  };
}

/**
 * One chain of `count` records of a session, for actions `first`, `first + 1`, ... (a second chain of
 * a session starts at a later action, so its evidence ids differ from the first chain's).
 */
export function sealChain(
  session: string,
  count: number,
  o: BodyOptions & { first?: number } = {},
): EvidenceRecord[] {
  const { first = 1, ts, ...body } = o;
  const out: EvidenceRecord[] = [];
  let head: ChainHead | null = null;
  for (let i = 0; i < count; i++) {
    const n = first + i;
    const sealed = chainEvidence(
      head,
      evidenceBody(session, n, { ...body, ...(ts !== undefined ? { ts: ts + i * MIN } : {}) }),
    );
    out.push(sealed.record);
    head = sealed.head;
  }
  return out;
}

/** The records as the audit topic and `evidence export` write them: one JSON object a line. */
export const jsonLines = (records: readonly EvidenceRecord[]): string[] =>
  records.map((r) => JSON.stringify(r));
