/**
 * Live traffic for the demo and `simulate --to-kafka --rate`: an async iterator yielding labelled
 * events stamped with the wall clock at a steady rate.
 *
 * Emission slots are scheduled by absolute time (slot k at start + k / rate), so the rate does not
 * drift however long it runs. Each slot takes the session event that is due soonest; when none is
 * due a new session starts (its login fills the slot), so the pool of active sessions grows until
 * it carries the rate on its own. An event emitted late pushes the rest of its session back: gaps
 * within a session are never shorter than the scenario's, unless the pool is at maxSessions.
 */
import type { SessionAction } from '../contract';
import { RiskStreamError } from '../errors';
import { createPopulation, type Population, sizeFor } from './population';
import { Rng, type Seed } from './rng';
import { labelSession, pickUser, SCENARIOS, scenarioPicker } from './scenarios';
import type { Label, ScenarioMix, ScenarioName } from './types';

export interface LiveOptions {
  /** @default 1 */
  seed?: Seed;
  /** Events per second. */
  rate: number;
  /** Share of new sessions that are attacks. @default 0.1 */
  attackRate?: number;
  mix?: ScenarioMix;
  /** Wall clock in epoch ms. @default Date.now */
  now?: () => number;
  /**
   * Most sessions active at once. At the cap, the soonest session event is emitted early instead
   * of a new session starting (gaps compress), which bounds memory at high rates. @default 5000
   */
  maxSessions?: number;
  /** Aborting it ends the iteration, like return(). */
  signal?: AbortSignal;
}

export interface LiveEvent {
  event: SessionAction;
  label: Label;
}

/** A consumer that was away longer than this gets the rate from now on, not a burst to catch up. */
const MAX_LAG_MS = 1_000;

interface Active {
  items: LiveEvent[];
  next: number;
  /** Scenario ts of the last emitted event, and the ts it was emitted with. */
  lastOrig: number;
  lastEmit: number;
  due: number;
  seq: number;
}

/** Binary min-heap on (due, seq). */
class DueHeap {
  private readonly a: Active[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Active | undefined {
    return this.a[0];
  }
  private less(i: number, j: number): boolean {
    const x = this.a[i] as Active;
    const y = this.a[j] as Active;
    return x.due < y.due || (x.due === y.due && x.seq < y.seq);
  }
  private swap(i: number, j: number): void {
    [this.a[i], this.a[j]] = [this.a[j] as Active, this.a[i] as Active];
  }
  push(s: Active): void {
    this.a.push(s);
    for (let i = this.a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): Active | undefined {
    const top = this.a[0];
    const last = this.a.pop();
    if (this.a.length > 0 && last !== undefined) {
      this.a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.a.length && this.less(l, m)) m = l;
        if (r < this.a.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.a.length = 0;
  }
}

class LiveTraffic implements AsyncIterableIterator<LiveEvent> {
  private readonly heap = new DueHeap();
  private readonly root: Rng;
  private readonly draws: Rng;
  private readonly population: Population;
  private readonly pick: (rng: Rng) => ScenarioName;
  private readonly intervalMs: number;
  private readonly maxSessions: number;
  private readonly now: () => number;
  private base: number | null = null;
  private k = 0;
  private seq = 0;
  private finished = false;
  private wake: (() => void) | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly onAbort = () => void this.return();

  constructor(private readonly opts: LiveOptions) {
    const { rate, maxSessions = 5000 } = opts;
    if (!(Number.isFinite(rate) && rate > 0))
      throw new RiskStreamError('CONFIG_INVALID', `rate must be events/s > 0, got ${rate}`);
    if (!(Number.isInteger(maxSessions) && maxSessions > 0)) {
      throw new RiskStreamError('CONFIG_INVALID', `maxSessions must be an integer > 0, got ${maxSessions}`);
    }
    this.pick = scenarioPicker(opts.attackRate ?? 0.1, opts.mix);
    this.intervalMs = 1000 / rate;
    this.maxSessions = maxSessions;
    this.now = opts.now ?? Date.now;
    this.root = new Rng(opts.seed ?? 1);
    this.population = createPopulation(this.root.fork(), sizeFor(maxSessions * 2));
    this.draws = this.root.fork();
    if (opts.signal?.aborted) this.finished = true;
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<LiveEvent>> {
    const step = this.chain.then(() => this.step());
    this.chain = step.catch(() => undefined);
    return step;
  }

  return(): Promise<IteratorResult<LiveEvent>> {
    this.finished = true;
    this.wake?.();
    this.heap.clear();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    return Promise.resolve({ done: true, value: undefined });
  }

  private async step(): Promise<IteratorResult<LiveEvent>> {
    if (this.finished) return { done: true, value: undefined };
    let now = this.now();
    this.base ??= now;
    const slot = this.base + this.k * this.intervalMs;
    if (slot > now) {
      await this.sleep(slot - now);
      if (this.finished) return { done: true, value: undefined };
      now = Math.max(now, this.now());
    } else if (now - slot > MAX_LAG_MS) {
      this.base = now - this.k * this.intervalMs;
    }
    this.k++;
    return { done: false, value: this.emit(now) };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private emit(now: number): LiveEvent {
    const top = this.heap.peek();
    const s =
      top !== undefined && (top.due <= now || this.heap.size >= this.maxSessions)
        ? (this.heap.pop() as Active)
        : this.startSession(now);
    const item = s.items[s.next] as LiveEvent;
    const ts = Math.max(now, s.lastEmit);
    s.lastOrig = item.event.ts;
    s.lastEmit = ts;
    s.next++;
    const following = s.items[s.next];
    if (following !== undefined) {
      s.due = ts + (following.event.ts - s.lastOrig);
      this.heap.push(s);
    }
    return { event: { ...item.event, ts }, label: item.label };
  }

  private startSession(now: number): Active {
    const name = this.pick(this.draws);
    const user = pickUser(this.draws, this.population, name);
    const events = SCENARIOS[name](this.root.fork(), now, user);
    const labels = labelSession(name, events);
    const items = events.map((e, i) => ({ event: e.event, label: labels[i] as Label }));
    return { items, next: 0, lastOrig: now, lastEmit: now, due: now, seq: this.seq++ };
  }
}

/** Labelled events at about `rate` per second, ts near now, until return() or the signal aborts. */
export function liveTraffic(opts: LiveOptions): AsyncIterableIterator<LiveEvent> {
  return new LiveTraffic(opts);
}
