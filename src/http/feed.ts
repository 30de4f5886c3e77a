import type { Decision, IndexedDecision, SessionStore } from '../contract';
import type { Logger } from '../log';

/** A decision as the recent-decisions index holds it: with its evidence record's seq and hash. */
export type Summary = Decision & { evidence?: { seq: number; hash: string } | null };

/** A row of the index, or null when it is not JSON. */
export const parseIndexed = (row: IndexedDecision): Summary | null => {
  try {
    return JSON.parse(row.json) as Summary;
  } catch {
    return null;
  }
};

/** Orders two cursors of one store (numbers, or Redis stream ids `<ms>-<seq>`). */
export function compareCursors(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** One reader of the decisions index per process, fanned out to every live-feed client. */
export class DecisionFeed {
  private readonly listeners = new Set<(d: Summary | null, cursor: string) => void>();
  private running = false;
  private stopped = false;
  /** Resolves once the running loop knows where it starts reading. */
  private started: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: SessionStore,
    private readonly waitMs: number,
    private readonly log: Logger,
  ) {}

  /**
   * The listener gets every decision indexed after the feed's position when it subscribed (null
   * for a row that is not JSON). `started` resolves once that position is set: everything up to it
   * is in the index by then (what a replay must read).
   */
  subscribe(listener: (d: Summary | null, cursor: string) => void): {
    unsubscribe: () => void;
    started: Promise<void>;
  } {
    this.listeners.add(listener);
    if (!this.running && !this.stopped) {
      this.running = true;
      this.started = new Promise((resolve) => void this.loop(resolve));
    }
    return { unsubscribe: () => this.listeners.delete(listener), started: this.started };
  }

  stop(): void {
    this.stopped = true;
  }

  private async loop(started: () => void): Promise<void> {
    try {
      let cursor: string;
      try {
        cursor = (await this.store.readDecisions(null, 1))[0]?.cursor ?? '0';
      } finally {
        started();
      }
      while (!this.stopped && this.listeners.size > 0) {
        try {
          const asked = Date.now();
          const rows = await this.store.followDecisions(cursor, this.waitMs);
          // A store that answers at once with nothing (closed) must not spin this loop.
          const early = this.waitMs - (Date.now() - asked);
          if (rows.length === 0 && early > 0) await new Promise((r) => setTimeout(r, early));
          for (const row of rows) {
            cursor = row.cursor;
            const d = parseIndexed(row);
            for (const l of this.listeners) l(d, row.cursor);
          }
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'live decision feed: reading the index failed');
          await new Promise((r) => setTimeout(r, this.waitMs));
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'live decision feed stopped');
    } finally {
      this.running = false;
    }
  }
}
