import type { ActionInput, SessionStore, WindowView } from '../contract';
import { RiskStreamError } from '../errors';
import type { SessionEntry, StoreLimits, StoreOptions, WindowState } from './window';
import { applyToSession, resolveStoreLimits } from './window';

export interface MemoryStoreOptions extends StoreOptions {
  /** Sessions kept; past it the least recently used is evicted. @default 100_000 */
  maxSessions?: number;
  /** Clock for idle expiry (tests inject one). @default Date.now */
  now?: () => number;
}

/** After a logout `state` is null: the ledger outlives the window, as in Redis. */
interface Entry extends SessionEntry {
  expiresAt: number;
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
    const now = this.now();
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
    for (const [sessionId, entry] of touched) {
      entry.expiresAt = now + this.limits.idleTtlMs;
      this.sessions.set(sessionId, entry);
    }
    while (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
      this.evictions += 1;
    }
    return views;
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

  /** Expiry times follow LRU order (each touch sets now + ttl), so expired entries are at the front. */
  private sweep(now: number): void {
    for (const [sessionId, entry] of this.sessions) {
      if (entry.expiresAt > now) break;
      this.sessions.delete(sessionId);
      this.expirations += 1;
    }
  }
}
