import type {
  ActionInput,
  IndexedDecision,
  SessionStore,
  SettleBatch,
  StoredSession,
  WindowView,
} from '../contract';
import { RiskStreamError } from '../errors';
import type { SessionEntry, StoreLimits, StoreOptions, WindowState } from './window';
import { applyToSession, resolveStoreLimits, summarizeWindow } from './window';
import { DEFAULT_TIMELINE_LIMITS, type TimelineLimits } from './keys';
import { wellFormed } from './input';

export interface MemoryStoreOptions extends StoreOptions {
  /** Sessions kept; past it the least recently used is evicted. @default 100_000 */
  maxSessions?: number;
  /** Clock for idle expiry (tests inject one). @default Date.now */
  now?: () => number;
  /**
   * Expire by event time instead of a clock, for recorded events replayed faster than they
   * happened: a session is forgotten once the batch's earliest event is more than idleTtlMs after
   * the session's own latest one, which is exactly when its window would start over anyway. (A
   * clock such as "the newest event seen" is not: one batch of a replay can span hours, and a
   * session touched early would expire while its next event is still within its idle time.)
   * @default false
   */
  eventTime?: boolean;
  /** Timeline entries kept per session and decisions in the recent-decisions index. */
  timeline?: TimelineLimits;
}

/** After a logout `state` is null: the ledger outlives the window, as in Redis. */
interface Entry extends SessionEntry {
  expiresAt: number;
  /** The ledger is forgotten after dedupeTtlMs without an event (the window after idleTtlMs). */
  ledgerExpiresAt: number;
  /** Policy state (settle): expires with the session. */
  policy?: { asOf: number; state: string };
  /** Timeline entries by arrival number, oldest first (settle), until timelineExpiresAt. */
  timeline?: Map<number, string>;
  timelineExpiresAt?: number;
}

/**
 * The session store in process memory, for the demo and replay: the same semantics as the Redis
 * store (same window code, same dedupe and logout rules, idle expiry), bounded by maxSessions.
 * Views handed out are shared with the ledger: treat them as read-only.
 * Session ids are looked up well-formed, as toActionInput keys the windows: an id with a lone
 * surrogate reaches its session here as it does in Redis, where both spellings are the same UTF-8.
 */
export class MemorySessionStore implements SessionStore {
  readonly limits: StoreLimits;
  readonly maxSessions: number;
  /** Sessions dropped because maxSessions was reached. */
  evictions = 0;
  /** Sessions dropped because they were idle for idleTtlMs. */
  expirations = 0;
  private readonly now: () => number;
  private readonly eventTime: boolean;
  /** Least recently used first: an entry is re-inserted on every batch that touches it. */
  private readonly sessions = new Map<string, Entry>();
  private readonly timelineLimits: TimelineLimits;
  /** The recent-decisions index, oldest first, and the next cursor number. */
  private readonly decisions: IndexedDecision[] = [];
  private nextCursor = 1;
  private readonly waiting = new Set<() => void>();
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.limits = resolveStoreLimits(options);
    this.maxSessions = options.maxSessions ?? 100_000;
    if (!Number.isSafeInteger(this.maxSessions) || this.maxSessions < 1) {
      throw new RiskStreamError(
        'CONFIG_INVALID',
        `maxSessions must be an integer >= 1, got ${options.maxSessions}`,
      );
    }
    this.now = options.now ?? Date.now;
    this.eventTime = options.eventTime ?? false;
    this.timelineLimits = options.timeline ?? DEFAULT_TIMELINE_LIMITS;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The window of a session, or null (for tests and debugging). */
  peek(sessionId: string): WindowState | null {
    const entry = this.sessions.get(wellFormed(sessionId));
    return entry && entry.expiresAt > this.now() ? entry.state : null;
  }

  async applyBatch(inputs: readonly ActionInput[]): Promise<WindowView[]> {
    const now = this.eventTime ? inputs.reduce((t, i) => Math.min(t, i.ts), Infinity) : this.now();
    this.sweep(now);
    const touched = new Map<string, Entry>();
    const views = inputs.map((input) => {
      let entry = touched.get(input.sessionId);
      if (!entry) {
        entry = this.take(input.sessionId, now);
        if (entry.ledgerExpiresAt <= now) entry.ledger.clear();
        touched.set(input.sessionId, entry);
      }
      return applyToSession(entry, input, this.limits, this.limits.dedupeCap).view;
    });
    if (this.eventTime) {
      // Expiry follows the session's own latest event (a late event never moves it back).
      for (const input of inputs) {
        const entry = touched.get(input.sessionId) as Entry;
        // + 1: the window starts over only when the gap is more than idleTtlMs.
        entry.expiresAt = Math.max(entry.expiresAt, input.ts + this.limits.idleTtlMs + 1);
        entry.ledgerExpiresAt = Math.max(entry.ledgerExpiresAt, input.ts + this.limits.dedupeTtlMs + 1);
      }
    }
    for (const [sessionId, entry] of touched) {
      if (!this.eventTime) {
        entry.expiresAt = now + this.limits.idleTtlMs;
        entry.ledgerExpiresAt = now + this.limits.dedupeTtlMs;
      }
      this.sessions.set(sessionId, entry);
    }
    while (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
      this.evictions += 1;
    }
    return views;
  }

  async loadPolicy(sessionIds: readonly string[]): Promise<(string | null)[]> {
    return sessionIds.map((id) => this.sessions.get(wellFormed(id))?.policy?.state ?? null);
  }

  async settle(batch: SettleBatch): Promise<void> {
    for (const w of batch.policy) {
      const entry = this.sessions.get(wellFormed(w.sessionId));
      if (entry && (entry.policy === undefined || entry.policy.asOf < w.asOf)) {
        entry.policy = { asOf: w.asOf, state: w.state };
      }
    }
    const { maxEntries, ttlMs, maxDecisions } = this.timelineLimits;
    if (maxEntries > 0) {
      for (const t of batch.timeline) {
        const entry = this.sessions.get(wellFormed(t.sessionId));
        if (!entry) continue;
        if (!this.eventTime) {
          if ((entry.timelineExpiresAt ?? Infinity) <= this.now()) entry.timeline = undefined;
          entry.timelineExpiresAt = this.now() + ttlMs;
        }
        const tl = (entry.timeline ??= new Map());
        tl.set(t.n, t.entry);
        if (tl.size > maxEntries) {
          const keep = [...tl.keys()].sort((a, b) => a - b).slice(-maxEntries);
          entry.timeline = new Map(keep.map((n) => [n, tl.get(n)!]));
        }
      }
    }
    if (maxDecisions > 0 && batch.decisions.length > 0) {
      for (const json of batch.decisions) this.decisions.push({ cursor: String(this.nextCursor++), json });
      if (this.decisions.length > maxDecisions)
        this.decisions.splice(0, this.decisions.length - maxDecisions);
      for (const wake of this.waiting) wake();
    }
  }

  async readSession(sessionId: string): Promise<StoredSession> {
    const entry = this.sessions.get(wellFormed(sessionId));
    const live = entry && (this.eventTime || entry.expiresAt > this.now()) ? entry : undefined;
    return {
      window: live?.state ? summarizeWindow(live.state) : null,
      policy: live?.policy?.state ?? null,
      expiresInMs: live && !this.eventTime ? live.expiresAt - this.now() : null,
    };
  }

  async readTimeline(sessionId: string): Promise<string[]> {
    const entry = this.sessions.get(wellFormed(sessionId));
    const now = this.now();
    const expired = !this.eventTime && (entry?.expiresAt ?? 0) <= now;
    if (!entry?.timeline || expired || (entry.timelineExpiresAt ?? Infinity) <= now) return [];
    return [...entry.timeline.entries()].sort(([a], [b]) => a - b).map(([, json]) => json);
  }

  async readDecisions(before: string | null, count: number): Promise<IndexedDecision[]> {
    const limit = before === null ? Infinity : Number(before);
    const out: IndexedDecision[] = [];
    for (let i = this.decisions.length - 1; i >= 0 && out.length < count; i--) {
      const d = this.decisions[i]!;
      if (Number(d.cursor) < limit) out.push(d);
    }
    return out;
  }

  async followDecisions(after: string | null, waitMs: number): Promise<IndexedDecision[]> {
    if (this.closed) return [];
    const from = after === null ? this.nextCursor - 1 : Number(after);
    const newer = () => this.decisions.filter((d) => Number(d.cursor) > from);
    const now = newer();
    if (now.length > 0 || waitMs <= 0) return now;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.waiting.add(done);
    });
    return newer();
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiting) wake();
    this.sessions.clear();
  }

  /** Removes the entry from the LRU order (it is re-inserted at the end after the batch). */
  private take(sessionId: string, now: number): Entry {
    const entry = this.sessions.get(sessionId);
    if (entry) {
      this.sessions.delete(sessionId);
      if (entry.expiresAt > now) return entry;
      this.expirations += 1;
    }
    return { state: null, ledger: new Map(), arrivals: 0, expiresAt: 0, ledgerExpiresAt: 0 };
  }

  /**
   * Expiry times follow LRU order (each touch sets now + ttl), so expired entries are at the front.
   * By event time that holds only roughly: an expired entry behind a live one waits for a later
   * sweep, and `take` still treats it as expired.
   */
  private sweep(now: number): void {
    for (const [sessionId, entry] of this.sessions) {
      if (entry.expiresAt > now) break;
      this.sessions.delete(sessionId);
      this.expirations += 1;
    }
  }
}
