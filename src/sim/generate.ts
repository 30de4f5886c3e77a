/**
 * Batch generation: N labelled sessions spread over a time span, merged into one event stream
 * in time order. Deterministic for a seed.
 */
import type { SessionAction } from '../contract';
import { RiskStreamError } from '../errors';
import { createPopulation, sizeFor } from './population';
import { Rng, type Seed } from './rng';
import { labelSession, pickUser, SCENARIOS, scenarioPicker } from './scenarios';
import type { Label, ScenarioMix } from './types';

export interface SimulateOptions {
  /** Same seed, same output. @default 1 */
  seed?: Seed;
  /** Number of sessions to generate. */
  sessions: number;
  /** Share of sessions that are attacks (token replay or insider export). @default 0.1 */
  attackRate?: number;
  /**
   * Scenario weights. Omitted: DEFAULT_MIX. Given: only the scenarios it names with a positive
   * weight are generated (see scenarioPicker).
   */
  mix?: ScenarioMix;
  /** Epoch ms of the earliest session start. @default 2025-01-06T08:00:00Z (a Monday morning) */
  start?: number;
  /** Session start times are spread uniformly over this many ms. @default 3_600_000 */
  spanMs?: number;
}

export interface Simulation {
  /** Sorted by ts; events with equal ts keep session-then-emission order. */
  events: SessionAction[];
  /** labels[i] is the label of events[i]. */
  labels: Label[];
}

export const DEFAULT_START = Date.UTC(2025, 0, 6, 8, 0, 0);

function check(ok: boolean, message: string): void {
  if (!ok) throw new RiskStreamError('CONFIG_INVALID', message);
}

export function simulate(opts: SimulateOptions): Simulation {
  const { seed = 1, sessions, attackRate = 0.1, mix, start = DEFAULT_START, spanMs = 3_600_000 } = opts;
  check(Number.isInteger(sessions) && sessions >= 0, `sessions must be an integer >= 0, got ${sessions}`);
  check(Number.isFinite(start), `start must be epoch milliseconds, got ${start}`);
  check(Number.isFinite(spanMs) && spanMs >= 0, `spanMs must be a number >= 0, got ${spanMs}`);
  const pick = scenarioPicker(attackRate, mix);

  const root = new Rng(seed);
  const population = createPopulation(root.fork(), sizeFor(sessions));
  const draws = root.fork();
  const events: SessionAction[] = [];
  const labels: Label[] = [];
  for (let i = 0; i < sessions; i++) {
    const name = pick(draws);
    const t0 = start + Math.floor(draws.next() * spanMs);
    const user = pickUser(draws, population, name);
    // Each session draws from its own stream, so one scenario's changes leave the others alone.
    const simEvents = SCENARIOS[name](root.fork(), t0, user);
    for (const e of simEvents) events.push(e.event);
    for (const l of labelSession(name, simEvents)) labels.push(l);
  }
  const order = timeOrder(events);
  return {
    events: Array.from(order, (i) => events[i] as SessionAction),
    labels: Array.from(order, (i) => labels[i] as Label),
  };
}

/** Indices of events by ts, ties in generation order (explicit, not resting on sort stability). */
function timeOrder(events: readonly SessionAction[]): ArrayLike<number> & Iterable<number> {
  const n = events.length;
  let min = Infinity;
  let max = -Infinity;
  for (const e of events) {
    if (e.ts < min) min = e.ts;
    if (e.ts > max) max = e.ts;
  }
  if (n === 0) return [];
  if ((max - min + 1) * n < Number.MAX_SAFE_INTEGER) {
    // (ts, index) packed into one exactly representable number: a native numeric sort, no comparator.
    const keys = Float64Array.from(events, (e, i) => (e.ts - min) * n + i);
    keys.sort();
    return keys.map((k) => k % n);
  }
  const ts = Float64Array.from(events, (e) => e.ts);
  return Uint32Array.from(events.keys()).sort((a, b) => (ts[a] as number) - (ts[b] as number) || a - b);
}

export { type LiveEvent, type LiveOptions, liveTraffic } from './live';
