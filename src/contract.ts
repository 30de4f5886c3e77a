/**
 * The public records (../shared/CONTRACT.md) and the internal records that pass between the
 * pipeline's stages. Every stage imports its types from here; no stage imports another stage's types.
 */

export const PRINCIPAL_TYPES = ['EMPLOYEE', 'CONTRACTOR', 'ADMIN', 'SERVICE'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

export const DECISION_TYPES = ['ALLOW', 'STEP_UP', 'BLOCK_ACTION', 'TERMINATE'] as const;
export type DecisionType = (typeof DECISION_TYPES)[number];

/** Actions the policy treats as sensitive (issue 2 §7). */
export const SENSITIVE_ACTIONS: ReadonlySet<string> = new Set([
  'export',
  'approve',
  'permission_change',
  'config_change',
  'api_token_create',
]);

export interface ClientInfo {
  ip: string;
  asn: number | null;
  country: string | null;
  lat: number | null;
  lon: number | null;
  user_agent: string;
  ja4: string | null;
  device_id: string | null;
  accept_language: string | null;
}

/** One action a principal performed inside an authenticated session. */
export interface SessionAction {
  event_id: string;
  /** Event time, epoch millis. */
  ts: number;
  session_id: string;
  user_id: string;
  principal_type: PrincipalType;
  app: string;
  action: string;
  resource: string | null;
  records: number | null;
  mfa: boolean | null;
  client: ClientInfo;
}

export interface Reason {
  code: string;
  detail: string;
  weight: number;
}

/** What the engine tells enforcement points. */
export interface Decision {
  decision_id: string;
  event_id: string;
  session_id: string;
  user_id: string;
  app: string;
  event_ts: number;
  decided_at: number;
  decision: DecisionType;
  score: number;
  model_version: string;
  reasons: Reason[];
  /** Since decision v2: the action's name, so an enforcement point can block that action. */
  action?: string | null;
  /** Since decision v2: the policy that decided (`<name>@<version>#<hash>`). */
  policy_version?: string | null;
  /** Since decision v2: the policy rule or friction control that produced the decision. */
  policy_rule?: string | null;
}

/** Stable codes for why a record was dead-lettered. */
export const DEAD_LETTER_CODES = [
  'EMPTY',
  'UNDECODABLE',
  'UNKNOWN_SCHEMA_ID',
  'SCHEMA_MISMATCH',
  'INVALID_JSON',
  'MISSING_FIELD',
  'WRONG_TYPE',
  'INVALID_VALUE',
  'OVERSIZED',
  'TS_OUT_OF_RANGE',
] as const;
export type DeadLetterCode = (typeof DEAD_LETTER_CODES)[number];

/** A record the engine could not decide on, kept with its original bytes. */
export interface DeadLetter {
  reason_code: DeadLetterCode;
  /** Human-readable: which field, what was wrong. */
  reason: string;
  /** Topic name or file path the record came from. */
  source: string;
  partition: number | null;
  /** Kafka offset as a decimal string (longs do not fit a JS number safely). */
  offset: string | null;
  /** 1-based line number for file input. */
  line: number | null;
  key: Buffer | null;
  payload: Buffer;
  received_at: number;
}

/** One raw input record, as any transport hands it to the pipeline. */
export interface RawRecord {
  value: Buffer | null;
  key: Buffer | null;
  source: string;
  partition: number | null;
  offset: string | null;
  line: number | null;
  /**
   * When the record entered the system, epoch millis: the Kafka message timestamp for Kafka input
   * (producer CreateTime), the read time for files and the in-process transport. Event-to-decision
   * latency is measured from here.
   */
  receivedAt: number;
}

// ---------------------------------------------------------------------------------------------
// state <-> features: what the session store is given per event and what it returns per event
// ---------------------------------------------------------------------------------------------

/** A client fingerprint as the session window keeps it (raw values, already size-validated). */
export interface FingerprintSnapshot {
  ip: string;
  asn: number | null;
  country: string | null;
  lat: number | null;
  lon: number | null;
  ua: string;
  ja4: string | null;
  dev: string | null;
  ts: number;
}

/** What the pipeline sends the store for one event. Built by `toActionInput` (pure). */
export interface ActionInput {
  sessionId: string;
  eventId: string;
  ts: number;
  sensitive: boolean;
  isExport: boolean;
  /** Records exported by this event (0 unless the action is an export). */
  exported: number;
  logout: boolean;
  fp: FingerprintSnapshot;
  /**
   * Short stable ids (hashes) of fingerprint parts, used for the distinct-sets in the window. They
   * never contain ',' (the Redis script keeps each set as one comma-separated string).
   */
  ids: {
    /** The whole fingerprint: user agent + ja4 + device + asn. */
    fp: string;
    ua: string;
    ja4: string;
    dev: string;
    asn: string;
    country: string;
  };
}

export interface WindowCounts {
  /** Events in the window, this one included. */
  all: number;
  sensitive: number;
  exports: number;
  /** Records exported in the window, this event included. */
  exported: number;
}

/**
 * The session's window as this event saw it. Computed atomically with the update by the store;
 * stored per event_id so a redelivered event gets the identical view back (`duplicate: true`)
 * and so the identical features and decision.
 */
export interface WindowView {
  duplicate: boolean;
  /** Events of the session seen before this one. */
  n: number;
  /** First and latest event time of the session before this event (null for the first event). */
  firstTs: number | null;
  lastTs: number | null;
  /** The session's first fingerprint (this event's own if it is the first). */
  baseline: FingerprintSnapshot;
  /** The fingerprint of the latest prior event by event time (null for the first event). */
  prev: FingerprintSnapshot | null;
  /** Whether each part of this event's fingerprint had been seen earlier in the session. */
  seen: { fp: boolean; ua: boolean; ja4: boolean; dev: boolean; asn: boolean; country: boolean };
  /** Distinct values in the session so far, this event included (capped: see `capped`). */
  distinct: { fp: number; ua: number; ja4: number; dev: number; asn: number; country: number };
  /** Fingerprint ids of the latest events (this one last), at most 8. */
  fpSeq: string[];
  /** Sliding windows ending at this event's ts, and the whole session. */
  counts: { m1: WindowCounts; m10: WindowCounts; session: WindowCounts };
  /** True when a per-session cap was hit (distinct sets or ring), so counts are lower bounds. */
  capped: boolean;
  /**
   * Events of the session before this one, across windows: unlike `n` it does not start over when
   * a logout or an idle gap starts a new window, so it orders a session's events for its policy
   * state (FrictionState.asOf).
   */
  arrival: number;
}

/** One session's policy state to store (see SessionStore.settle). */
export interface PolicyStateWrite {
  sessionId: string;
  /** Arrival number (WindowView.arrival) of the event that made this state. */
  asOf: number;
  state: string;
}

/**
 * An evidence record on the audit topic (src/evidence/record.ts): hash-chained per session.
 */
/** The client parts compared between actions. */
export const CLIENT_PARTS = ['ip', 'asn', 'country', 'user_agent', 'ja4', 'device_id'] as const;
export type ClientPart = (typeof CLIENT_PARTS)[number];

export interface EvidenceRecord {
  evidence_version: number;
  /** Name-based (v5) UUID of the decision: the same for a record written again. */
  evidence_id: string;
  session_id: string;
  user_id: string;
  /** The evidence_id of this chain's first record. */
  chain: string;
  /** 1 for a chain's first record, then +1 per record. */
  seq: number;
  prev_hash: string;
  decision_id: string;
  event_id: string;
  /** Event time of the action (epoch ms). */
  event_ts: number;
  /** When the engine decided (epoch ms). */
  decided_at: number;
  /** The action as received, client fingerprint included. */
  action: SessionAction;
  /** Which parts of the client differ from the session's previous action, and which are new to it. */
  fingerprint: { id: string; changed: ClientPart[]; new_to_session: ClientPart[] };
  /** The policy catalog's sensitivity of the action. */
  sensitivity: string;
  /** The model inputs, by name; null when the action was not scored (a terminated session). */
  features: Record<string, number> | null;
  score: number;
  model_version: string;
  policy_version: string;
  policy_rule: string;
  decision: DecisionType;
  reasons: Reason[];
  hash: string;
}

/** What SessionStore.settle stores for a batch. */
export interface SettleBatch {
  policy: readonly PolicyStateWrite[];
  /**
   * Timeline entries (JSON) with the event's arrival number; an entry replaces one with the same n
   * (the later one, within a batch too).
   */
  timeline: readonly { sessionId: string; n: number; entry: string }[];
  /** Non-ALLOW decisions (JSON) for the recent-decisions index. */
  decisions: readonly string[];
}

/** A decision in the recent-decisions index, with its position (a cursor for paging or following). */
export interface IndexedDecision {
  cursor: string;
  json: string;
}

/** What the store tells about a session's window (for the analyst API). */
export interface WindowSummary {
  /** Events in the window. */
  events: number;
  firstTs: number | null;
  lastTs: number | null;
  /** The session's first fingerprint and its latest one (by event time). */
  baseline: FingerprintSnapshot | null;
  latest: FingerprintSnapshot | null;
  distinct: { fp: number; ua: number; ja4: number; dev: number; asn: number; country: number };
  capped: boolean;
}

export interface StoredSession {
  /** Null when the session is unknown, expired or logged out. */
  window: WindowSummary | null;
  /** The policy (friction-control) state, opaque here. */
  policy: string | null;
  /** Milliseconds until the session's keys expire (null: unknown). */
  expiresInMs: number | null;
}

/** Per-session state: Redis in production, memory for the demo and replay. Same semantics. */
export interface SessionStore {
  /**
   * Applies the events in order (events of one session must keep their relative order) and
   * returns one view per input, aligned by index. One round trip for the whole batch.
   * The batch reaches the store before the call returns (the request is sent, or the memory store
   * has applied it), so batches handed over one after another are applied in that order even when
   * the caller does not wait for one to finish before handing over the next.
   */
  applyBatch(inputs: readonly ActionInput[]): Promise<WindowView[]>;
  /**
   * Each session's stored policy (friction-control) state, null where none; call right after
   * applyBatch for the same batch: the request goes out at once, so both are answered in one round
   * trip. The state is opaque here (src/policy/friction.ts) and expires with the session.
   */
  loadPolicy(sessionIds: readonly string[]): Promise<(string | null)[]>;
  /**
   * What a batch leaves once its decisions are durable, in one round trip: policy states (each
   * kept only if its `asOf` is greater than the stored one's, so a late writer never overwrites a
   * newer state), timeline entries and the recent-decisions index.
   */
  settle(batch: SettleBatch): Promise<void>;
  /** The session's window (null: unknown or expired), policy state and time to expiry. */
  readSession(sessionId: string): Promise<StoredSession>;
  /** The session's timeline entries (JSON), oldest first. */
  readTimeline(sessionId: string): Promise<string[]>;
  /** Recent non-ALLOW decisions (JSON), newest first, older than `before` (a cursor from an earlier page). */
  readDecisions(before: string | null, count: number): Promise<IndexedDecision[]>;
  /**
   * Decisions indexed after the cursor `after` (null: from now on, i.e. after this call starts),
   * oldest first; waits up to `waitMs` for one and returns as soon as there is one, so it may
   * return only the first of several arriving together (or a bounded number): follow on from the
   * last cursor. `waitMs <= 0` does not wait: it returns at once what is already newer than `after`
   * (a catch-up, e.g. from an SSE Last-Event-ID), without queueing behind a waiting call. For a
   * live feed: one waiting caller per process, fanned out. After close() it returns [] at once,
   * and a call waiting at close() returns.
   */
  followDecisions(after: string | null, waitMs: number): Promise<IndexedDecision[]>;
  /** Cheap liveness check for /readyz. */
  ping(): Promise<boolean>;
  /**
   * When the store was found to have lost its state (Redis restarted empty or was flushed while
   * the engine ran), as long as sessions from before may still turn up (redis.idleTtl); null
   * otherwise. A store that cannot tell leaves it out.
   */
  stateLostAt?(): number | null;
  close(): Promise<void>;
}

/** Where decisions and dead letters go: Kafka topics, JSON Lines files, memory. */
export interface OutputSink {
  /**
   * Resolves once the output is durable (Kafka: acknowledged by the broker; files: flushed).
   * `shadow`: what a shadow model would have decided, for a sink that keeps it apart (never enforced).
   * `evidence`: evidence records (the audit topic), for a sink that keeps them.
   */
  write(
    decisions: readonly Decision[],
    deadLetters: readonly DeadLetter[],
    shadow?: readonly Decision[],
    evidence?: readonly EvidenceRecord[],
  ): Promise<void>;
  close(): Promise<void>;
}
