import { randomUUID } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { ReplyError } from 'ioredis';
import type {
  ActionInput,
  FingerprintSnapshot,
  IndexedDecision,
  SessionStore,
  SettleBatch,
  StoredSession,
  WindowView,
} from '../contract';
import { RiskStreamError } from '../errors';
import type { SessionKeys } from './keys';
import {
  DEFAULT_KEY_PREFIX,
  DEFAULT_TIMELINE_LIMITS,
  checkKeyPrefix,
  decisionsIndexKey,
  epochKey,
  sessionKeys,
  type TimelineLimits,
} from './keys';
import type { ScriptCommands } from './scripts';
import { registerScripts } from './scripts';
import type { StoreLimits, StoreOptions, WindowState } from './window';
import { ID_KINDS, decodeState, resolveStoreLimits, summarizeWindow } from './window';

export interface RedisStoreOptions extends StoreOptions {
  /** Prepended to every key; must not contain `{` or `}`. @default 'rs:' */
  prefix?: string;
  /** Whether close() quits the client (only for a client this store's owner handed over). @default false */
  ownsClient?: boolean;
  /** Called after every batch round trip, e.g. to feed a histogram. */
  onRoundTrip?: (ms: number, sessions: number) => void;
  /** Timeline entries kept per session and decisions in the recent-decisions index. */
  timeline?: TimelineLimits;
  /** Called when the store is found to have lost its state (by this engine or another). */
  onStateLost?: (lostAt: number) => void;
}

/** The value of the epoch key (keys.ts epochKey). */
interface Epoch {
  id: string;
  created: number;
  /** When an engine found the previous epoch gone (the state lost), or null for a new store. */
  lost: number | null;
}

function parseEpoch(text: string): Epoch {
  try {
    const e = JSON.parse(text) as Partial<Epoch>;
    if (typeof e.id === 'string' && typeof e.created === 'number')
      return { id: e.id, created: e.created, lost: typeof e.lost === 'number' ? e.lost : null };
  } catch {
    // not ours: treated as an epoch without a loss
  }
  return { id: text, created: 0, lost: null };
}

/** Reply errors that mean "Redis cannot serve right now", not "the script is wrong". */
const TRANSIENT_REPLY = /^(OOM|BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MOVED|ASK)\b/;

function storeError(err: unknown): RiskStreamError {
  if (err instanceof RiskStreamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ReplyError && !TRANSIENT_REPLY.test(message)) {
    return new RiskStreamError('STORE_SCRIPT', `session store script failed: ${message}`, { cause: err });
  }
  return new RiskStreamError('STORE_UNAVAILABLE', `session store unavailable: ${message}`, {
    retriable: true,
    cause: err,
  });
}

/** savePolicy-1.lua, as the script loader registers it. */
interface PolicyCommands {
  savePolicy(pol: string, asOf: number, state: string, ttlMs: number): ChainableCommander;
}

/** Values per event in the script's reply (OUT_FIELDS in applyActions-4.lua). */
const OUT_FIELDS = 28;
const KIND_BITS = ID_KINDS.map((_, k) => 1 << k);

/**
 * The script's ARGV fields for one event. Ids go wrapped in commas, the form the script searches
 * its sets for; they never contain ',' themselves (see ActionInput.ids).
 */
function eventArgs(input: ActionInput, out: (string | number)[]): void {
  const flags = (input.sensitive ? 1 : 0) + (input.isExport ? 2 : 0) + (input.logout ? 4 : 0);
  const { ids } = input;
  out.push(input.eventId, input.ts, flags, input.exported, JSON.stringify(input.fp));
  out.push(`,${ids.fp},`, `,${ids.ua},`, `,${ids.ja4},`, `,${ids.dev},`, `,${ids.asn},`, `,${ids.country},`);
}

const num = (value: unknown): number => value as number;

/** Decisions one followDecisions call returns at most (the caller follows on from the last cursor). */
const FOLLOW_COUNT = 500;

type XReadReply = [key: string, rows: [id: string, fields: string[]][]][] | null;

function indexedRows(reply: XReadReply): IndexedDecision[] {
  if (!reply) return [];
  return reply.flatMap(([, rows]) => rows.map(([cursor, fields]) => ({ cursor, json: fields[1] ?? '{}' })));
}

/**
 * Turns one session's reply into views. A fingerprint comes back as a reference to one this call
 * sent (most of them), to the stored one at [0]/[1], or as the string itself (duplicates).
 */
export function parseReply(
  reply: readonly unknown[],
  inputs: readonly ActionInput[],
  blobs: Map<string, FingerprintSnapshot>,
): WindowView[] {
  if (reply.length !== 2 + inputs.length * OUT_FIELDS) {
    throw new RiskStreamError(
      'STORE_SCRIPT',
      `session store script returned ${reply.length} values for ${inputs.length} events`,
    );
  }
  const blob = (text: string): FingerprintSnapshot => {
    let fp = blobs.get(text);
    if (!fp) {
      fp = JSON.parse(text) as FingerprintSnapshot;
      blobs.set(text, fp);
    }
    return fp;
  };
  const fingerprint = (ref: unknown, stored: unknown): FingerprintSnapshot | null => {
    if (typeof ref === 'string') return blob(ref);
    const k = num(ref);
    if (k < 0) return null;
    return k === 0 ? blob(String(stored)) : inputs[k - 1]!.fp;
  };
  const views = new Array<WindowView>(inputs.length);
  for (let j = 0, r = 2; j < inputs.length; j++, r += OUT_FIELDS) {
    const n = num(reply[r + 1]);
    const seenMask = num(reply[r + 6]);
    const seen = {} as WindowView['seen'];
    const distinct = {} as WindowView['distinct'];
    ID_KINDS.forEach((kind, k) => {
      seen[kind] = (seenMask & KIND_BITS[k]!) !== 0;
      distinct[kind] = num(reply[r + 7 + k]);
    });
    const counts = (at: number) => ({
      all: num(reply[at]),
      sensitive: num(reply[at + 1]),
      exports: num(reply[at + 2]),
      exported: num(reply[at + 3]),
    });
    views[j] = {
      duplicate: reply[r] === 1,
      n,
      firstTs: n > 0 ? num(reply[r + 2]) : null,
      lastTs: n > 0 ? num(reply[r + 3]) : null,
      baseline: fingerprint(reply[r + 4], reply[0])!,
      prev: fingerprint(reply[r + 5], reply[1]),
      seen,
      distinct,
      fpSeq: String(reply[r + 13]).split(','),
      counts: { m1: counts(r + 14), m10: counts(r + 18), session: counts(r + 22) },
      capped: reply[r + 26] === 1,
      arrival: num(reply[r + 27]),
    };
  }
  return views;
}

/**
 * The session store in Redis. One batch is one round trip: a pipeline with one `applyActions`
 * call per session carrying that session's events in order. A failed batch may have been applied
 * for some sessions; retrying it is safe because every event is deduplicated by eventId.
 */
export class RedisSessionStore implements SessionStore {
  readonly limits: StoreLimits;
  readonly prefix: string;
  /** Milliseconds of the latest batch round trip (0 before the first). */
  lastRoundTripMs = 0;
  private readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly onRoundTrip: ((ms: number, sessions: number) => void) | undefined;
  private readonly timelineLimits: TimelineLimits;
  private readonly decisionsKey: string;
  private readonly epochKey: string;
  private readonly onStateLost: ((lostAt: number) => void) | undefined;
  /** The epoch as last read (undefined before the first batch). */
  private epoch: { raw: string; value: Epoch } | undefined;
  /** A second connection for blocking reads of the decisions index (followDecisions), made on first use. */
  private follower: Redis | undefined;
  private closed = false;

  constructor(client: Redis, options: RedisStoreOptions = {}) {
    this.limits = resolveStoreLimits(options);
    this.prefix = checkKeyPrefix(options.prefix ?? DEFAULT_KEY_PREFIX);
    this.ownsClient = options.ownsClient ?? false;
    this.onRoundTrip = options.onRoundTrip;
    this.timelineLimits = options.timeline ?? DEFAULT_TIMELINE_LIMITS;
    this.decisionsKey = decisionsIndexKey(this.prefix);
    this.epochKey = epochKey(this.prefix);
    this.onStateLost = options.onStateLost;
    this.client = client;
    registerScripts(client);
  }

  keys(sessionId: string): SessionKeys {
    return sessionKeys(this.prefix, sessionId);
  }

  async applyBatch(inputs: readonly ActionInput[]): Promise<WindowView[]> {
    if (inputs.length === 0) return [];
    const bySession = new Map<string, number[]>();
    inputs.forEach((input, index) => {
      const indexes = bySession.get(input.sessionId);
      if (indexes) indexes.push(index);
      else bySession.set(input.sessionId, [index]);
    });

    const { idleTtlMs, dedupeTtlMs, dedupeCap, maxDistinct, maxRing } = this.limits;
    const pipeline = this.client.pipeline();
    const commands = pipeline as unknown as ScriptCommands;
    // The epoch rides along: gone means the state was lost (see checkEpoch).
    pipeline.get(this.epochKey);
    for (const [sessionId, indexes] of bySession) {
      const { win, ev, evq, arr } = this.keys(sessionId);
      const args: (string | number)[] = [idleTtlMs, dedupeTtlMs, dedupeCap, maxDistinct, maxRing];
      for (const i of indexes) eventArgs(inputs[i]!, args);
      commands.applyActions(win, ev, evq, arr, ...args);
    }

    const started = performance.now();
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw storeError(err);
    }
    const ms = performance.now() - started;
    this.lastRoundTripMs = ms;
    this.onRoundTrip?.(ms, bySession.size);
    if (!results || results.length !== bySession.size + 1) {
      throw new RiskStreamError('STORE_UNAVAILABLE', 'session store: pipeline returned no results', {
        retriable: true,
      });
    }
    const [epochErr, epoch] = results[0]!;
    if (epochErr) throw storeError(epochErr);
    await this.checkEpoch(epoch as string | null);

    const views = new Array<WindowView>(inputs.length);
    const blobs = new Map<string, FingerprintSnapshot>();
    let k = 1;
    for (const indexes of bySession.values()) {
      const [err, reply] = results[k++]!;
      if (err) throw storeError(err);
      if (!Array.isArray(reply)) {
        throw new RiskStreamError('STORE_SCRIPT', 'session store script returned an unexpected reply');
      }
      const sessionViews = parseReply(
        reply,
        indexes.map((i) => inputs[i]!),
        blobs,
      );
      indexes.forEach((inputIndex, j) => {
        views[inputIndex] = sessionViews[j]!;
      });
    }
    return views;
  }

  /**
   * Follows the epoch key. Missing on this engine's first batch: a new store (or one that lost its
   * state while no engine ran, which nothing can tell), so a new epoch without a loss is written.
   * Missing later: Redis lost its state while the engine ran; the new epoch records when, for every
   * engine (and a restarted one) to read. Another engine's new epoch is adopted as is.
   */
  private async checkEpoch(raw: string | null): Promise<void> {
    const known = this.epoch;
    if (raw !== null) {
      if (raw === known?.raw) return;
      this.epoch = { raw, value: parseEpoch(raw) };
      const lost = this.epoch.value.lost;
      if (known && lost !== null && lost !== known.value.lost) this.onStateLost?.(lost);
      return;
    }
    const now = Date.now();
    const fresh: Epoch = { id: randomUUID(), created: now, lost: known ? now : null };
    let current: string | null;
    try {
      await this.client.set(this.epochKey, JSON.stringify(fresh), 'NX');
      current = await this.client.get(this.epochKey);
    } catch (err) {
      throw storeError(err);
    }
    this.epoch = current === null ? undefined : { raw: current, value: parseEpoch(current) };
    const lost = this.epoch?.value.lost ?? null;
    if (known && lost !== null) this.onStateLost?.(lost);
  }

  /** When the state was found lost, while sessions from before may still turn up (redis.idleTtl). */
  stateLostAt(): number | null {
    const lost = this.epoch?.value.lost ?? null;
    return lost !== null && Date.now() - lost < this.limits.idleTtlMs ? lost : null;
  }

  /** The stored window of a session, or null (for tests and debugging). */
  async peek(sessionId: string): Promise<WindowState | null> {
    const packed = await this.client.getBuffer(this.keys(sessionId).win);
    return packed === null ? null : decodeState(packed);
  }

  async loadPolicy(sessionIds: readonly string[]): Promise<(string | null)[]> {
    if (sessionIds.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const id of sessionIds) pipeline.getex(this.keys(id).pol, 'PX', this.limits.idleTtlMs);
    const results = await this.exec(pipeline);
    return results.map(([err, value]) => {
      if (err) throw storeError(err);
      if (typeof value !== 'string') return null;
      const bar = value.indexOf('|');
      return bar < 0 ? null : value.slice(bar + 1);
    });
  }

  async settle(batch: SettleBatch): Promise<void> {
    const { maxEntries, ttlMs: timelineTtl, maxDecisions } = this.timelineLimits;
    const timeline = maxEntries > 0 ? batch.timeline : [];
    const decisions = maxDecisions > 0 ? batch.decisions : [];
    if (batch.policy.length === 0 && timeline.length === 0 && decisions.length === 0) return;
    const pipeline = this.client.pipeline();
    const commands = pipeline as unknown as PolicyCommands;
    const ttl = this.limits.idleTtlMs;
    for (const w of batch.policy) commands.savePolicy(this.keys(w.sessionId).pol, w.asOf, w.state, ttl);
    // By arrival number, the later entry winning, also within one batch.
    const bySession = new Map<string, Map<number, string>>();
    for (const t of timeline) {
      let entries = bySession.get(t.sessionId);
      if (!entries) bySession.set(t.sessionId, (entries = new Map()));
      entries.set(t.n, t.entry);
    }
    for (const [sessionId, entries] of bySession) {
      const { tl } = this.keys(sessionId);
      // An entry written again (a batch re-decided after a crash) replaces the first one.
      for (const n of entries.keys()) pipeline.zremrangebyscore(tl, n, n);
      pipeline.zadd(tl, ...[...entries].flat());
      pipeline.zremrangebyrank(tl, 0, -(maxEntries + 1));
      pipeline.pexpire(tl, timelineTtl);
    }
    for (const json of decisions)
      pipeline.xadd(this.decisionsKey, 'MAXLEN', '~', maxDecisions, '*', 'd', json);
    for (const [err] of await this.exec(pipeline)) if (err) throw storeError(err);
  }

  async readSession(sessionId: string): Promise<StoredSession> {
    const { win, pol } = this.keys(sessionId);
    const pipeline = this.client.pipeline();
    pipeline.getBuffer(win);
    pipeline.get(pol);
    pipeline.pttl(win);
    pipeline.pttl(pol);
    const [[e1, packed], [e2, policy], [, winTtl], [, polTtl]] = (await this.exec(pipeline)) as [
      Error | null,
      unknown,
    ][] as [
      [Error | null, Buffer | null],
      [Error | null, string | null],
      [unknown, number],
      [unknown, number],
    ];
    if (e1 || e2) throw storeError(e1 ?? e2);
    const bar = policy === null ? -1 : policy.indexOf('|');
    const ttl = Math.max(winTtl, polTtl);
    return {
      window: packed === null ? null : summarizeWindow(decodeState(packed)),
      policy: policy === null || bar < 0 ? null : policy.slice(bar + 1),
      expiresInMs: ttl >= 0 ? ttl : null,
    };
  }

  async readTimeline(sessionId: string): Promise<string[]> {
    try {
      return await this.client.zrange(this.keys(sessionId).tl, 0, -1);
    } catch (err) {
      throw storeError(err);
    }
  }

  async readDecisions(before: string | null, count: number): Promise<IndexedDecision[]> {
    try {
      const rows = await this.client.xrevrange(
        this.decisionsKey,
        before === null ? '+' : `(${before}`,
        '-',
        'COUNT',
        count,
      );
      return rows.map(([cursor, fields]) => ({ cursor, json: fields[1] ?? '{}' }));
    } catch (err) {
      throw storeError(err);
    }
  }

  async followDecisions(after: string | null, waitMs: number): Promise<IndexedDecision[]> {
    if (this.closed || this.client.status === 'end') return [];
    try {
      if (waitMs <= 0) {
        // No wait: a plain XREAD (BLOCK 0 would wait forever) on the main connection, so a catch-up
        // never queues behind a follow waiting on the follower.
        if (after === null) return [];
        const reply = await this.client.xread('COUNT', FOLLOW_COUNT, 'STREAMS', this.decisionsKey, after);
        return indexedRows(reply);
      }
      // "From now on" is fixed on the main connection, in order with this process's settles: `$`
      // would mean the newest entry when the XREAD reaches Redis (after connecting the follower).
      const from =
        after ?? (await this.client.xrevrange(this.decisionsKey, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
      if (this.closed) return [];
      this.follower ??= this.client.duplicate({ lazyConnect: false });
      const reply = await this.follower.xread(
        'COUNT',
        FOLLOW_COUNT,
        'BLOCK',
        Math.max(1, Math.round(waitMs)),
        'STREAMS',
        this.decisionsKey,
        from,
      );
      return indexedRows(reply);
    } catch (err) {
      // close() disconnected the follower under a waiting read.
      if (this.closed) return [];
      throw storeError(err);
    }
  }

  private async exec(pipeline: ChainableCommander): Promise<[Error | null, unknown][]> {
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw storeError(err);
    }
    if (!results) {
      throw new RiskStreamError('STORE_UNAVAILABLE', 'session store: pipeline returned no results', {
        retriable: true,
      });
    }
    return results;
  }

  /** Cheap: false at once while the client is not connected, instead of queueing. */
  async ping(): Promise<boolean> {
    if (this.client.status !== 'ready') return false;
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.follower?.disconnect();
    this.follower = undefined;
    if (this.ownsClient && this.client.status !== 'end') await this.client.quit();
  }
}
