import type { ActionInput, PolicyStateWrite, SessionStore, WindowView } from '../contract';
import { RiskStreamError } from '../errors';
import type { SessionEntry, StoreLimits, StoreOptions, WindowState } from './window';
import { applyToSession, resolveStoreLimits } from './window';

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
}

/** After a logout `state` is null: the ledger outlives the window, as in Redis. */
interface Entry extends SessionEntry {
  expiresAt: number;
  /** Policy state (savePolicy): expires with the session. */
  policy?: { asOf: number; state: string };
}

/**
 * The session store in process memory, for the demo and replay: the same semantics as the Redis
 * store (same window code, same dedupe and logout rules, idle expiry), bounded by maxSessions.
 * Views handed out are shared with the ledger: treat them as read-only.
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
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The window of a session, or null (for tests and debugging). */
  peek(sessionId: string): WindowState | null {
    const entry = this.sessions.get(sessionId);
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
      }
    }
    for (const [sessionId, entry] of touched) {
      if (!this.eventTime) entry.expiresAt = now + this.limits.idleTtlMs;
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
    return sessionIds.map((id) => this.sessions.get(id)?.policy?.state ?? null);
  }

  async savePolicy(writes: readonly PolicyStateWrite[]): Promise<void> {
    for (const w of writes) {
      const entry = this.sessions.get(w.sessionId);
      if (entry && (entry.policy === undefined || entry.policy.asOf < w.asOf)) {
        entry.policy = { asOf: w.asOf, state: w.state };
      }
    }
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
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
    return { state: null, ledger: new Map(), expiresAt: 0 };
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
