import type { ActionInput, Decision, SessionAction } from '../contract';
import { RiskStreamError } from '../errors';
import type { Logger } from '../log';
import type { PolicyOutcome } from '../policy/decide';
import type { Origin } from '../policy/friction';

/**
 * What the engine does while the session store (Redis) does not answer: `wait` holds the batch and
 * retries (nothing is decided without state); `decide` answers from the policy's
 * `outage.withoutState` once the store has failed for `afterMs` (settings redis.outage, outageAfter).
 */
export type OutageMode = 'wait' | 'decide';

export interface StoreOutageOptions {
  mode: OutageMode;
  /** With `decide`: how long the store must have failed before decisions are made without it. */
  afterMs: number;
  /** Whether the store answers (a PING); asked every `probeMs` while an outage lasts. */
  probe: () => Promise<boolean>;
  /** @default 500 */
  probeMs?: number;
  /** Decisions made without state kept for the catch-up; beyond, the oldest are dropped. @default 100_000 */
  journalCap?: number;
  log?: Logger;
  now?: () => number;
}

/** A decision made without state, kept until the store has its event (the catch-up). */
export interface DegradedEntry {
  input: ActionInput;
  action: SessionAction;
  /** The decision as it was published (decided_at included). */
  decision: Decision;
  outcome: PolicyOutcome;
  origin: Origin;
}

/** A store error that means "Redis cannot serve right now" (not a script bug). */
export const storeUnavailable = (err: unknown): boolean =>
  err instanceof RiskStreamError && err.code === 'STORE_UNAVAILABLE';

/**
 * The state of the session store as the pipeline sees it, shared by every batch (the Kafka
 * engine's and the inline API's): since when it fails, whether decisions are now made without it,
 * the decisions made so (the journal) and the writes put off until it answers again.
 *
 * The journal is the catch-up: the next batch that reaches the store carries the journal's events
 * in front of its own, so the windows get them and each session's policy state records the answer
 * each one was given; a redelivered copy (a crash before its offset was committed) is then answered
 * as it was the first time instead of being scored. The journal lives in this process: events
 * decided without state by an engine that dies before the store answers again never reach the
 * windows, and a redelivered copy of one is scored (same decision_id, perhaps another answer).
 */
export class StoreOutage {
  readonly mode: OutageMode;
  /** When the current outage began (the first failure), or null while the store answers. */
  private since: number | null = null;
  /** The latest probe during the outage said the store answers: try it again. */
  private answers = false;
  private probing: NodeJS.Timeout | undefined;
  private readonly journal = new Map<string, DegradedEntry>();
  private dropped = 0;
  private readonly deferred: (() => Promise<void>)[] = [];
  private flushing: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: StoreOutageOptions) {
    this.mode = opts.mode;
    this.now = opts.now ?? Date.now;
  }

  /** Since when the store fails (epoch ms), or null. */
  get failingSince(): number | null {
    return this.since;
  }

  /** A store call failed with STORE_UNAVAILABLE. */
  failed(): void {
    this.answers = false;
    if (this.since !== null) return;
    this.since = this.now();
    this.opts.log?.warn({ mode: this.mode, afterMs: this.opts.afterMs }, 'session store unavailable');
    const probeMs = this.opts.probeMs ?? 500;
    const tick = () => {
      this.probing = setTimeout(() => {
        void this.opts
          .probe()
          .catch(() => false)
          .then((ok) => {
            if (this.since === null) return;
            this.answers = ok;
            tick();
          });
      }, probeMs);
      this.probing.unref();
    };
    tick();
  }

  /** A store call succeeded: the outage (if any) is over; writes put off are made now. */
  succeeded(): void {
    if (this.since !== null) {
      this.opts.log?.info(
        { outageMs: this.now() - this.since, journal: this.journal.size, deferred: this.deferred.length },
        'session store answers again',
      );
      this.since = null;
      this.answers = false;
      clearTimeout(this.probing);
    }
    if (this.deferred.length > 0) void this.flush();
  }

  /** Decide without the store now: mode `decide`, failing for afterMs, and not answering. */
  degraded(): boolean {
    return (
      this.mode === 'decide' &&
      this.since !== null &&
      !this.answers &&
      this.now() - this.since >= this.opts.afterMs
    );
  }

  /** A batch that failed on the store is worth trying again now (it answers, or decisions go without it). */
  retryNow(): boolean {
    return this.since === null || this.answers || this.degraded();
  }

  /** Keeps a decision made without state for the catch-up. */
  record(entry: DegradedEntry): void {
    this.journal.set(entry.action.event_id, entry);
    if (this.journal.size > (this.opts.journalCap ?? 100_000)) {
      this.journal.delete(this.journal.keys().next().value as string);
      if (this.dropped++ === 0)
        this.opts.log?.warn(
          { cap: this.opts.journalCap ?? 100_000 },
          'outage journal full: the oldest decisions made without state will not reach the windows',
        );
    }
  }

  /** The decision made without state for this event, if it is still waiting for the catch-up. */
  recorded(eventId: string): DegradedEntry | undefined {
    return this.journal.get(eventId);
  }

  /**
   * Takes journal entries, oldest first, at most `limit` (for the next batch to reach the store);
   * with `eventId`, only that event's.
   */
  take(limit = Number.POSITIVE_INFINITY, eventId?: string): DegradedEntry[] {
    if (eventId !== undefined) {
      const e = this.journal.get(eventId);
      if (!e) return [];
      this.journal.delete(eventId);
      return [e];
    }
    const out: DegradedEntry[] = [];
    for (const [id, e] of this.journal) {
      if (out.length >= limit) break;
      out.push(e);
      this.journal.delete(id);
    }
    return out;
  }

  /** Puts back entries whose batch failed (ahead of what was journaled meanwhile). */
  putBack(entries: readonly DegradedEntry[]): void {
    if (entries.length === 0) return;
    const later = [...this.journal.values()];
    this.journal.clear();
    for (const e of [...entries, ...later]) this.journal.set(e.action.event_id, e);
  }

  /** Journal entries waiting for the catch-up. */
  get pending(): number {
    return this.journal.size;
  }

  /** Puts off a write to the store (policy state, timeline, CAEP outbox) until it answers again. */
  defer(task: () => Promise<void>): void {
    this.deferred.push(task);
  }

  /** Makes the writes put off, in order; stops at the first that fails (the rest wait for the next success). */
  private flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        while (this.deferred.length > 0) {
          const task = this.deferred[0]!;
          try {
            await task();
          } catch (err) {
            this.opts.log?.warn({ err: (err as Error).message }, 'deferred store write failed; kept');
            if (storeUnavailable(err)) this.failed();
            return;
          }
          this.deferred.shift();
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  /** Waits for deferred writes being made (on stop). */
  async drain(): Promise<void> {
    await this.flushing;
  }

  close(): void {
    clearTimeout(this.probing);
    this.since = null;
  }
}
