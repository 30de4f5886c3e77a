/**
 * End-to-end benchmark on a real Kafka broker and a real Redis: a raw kafkajs consume -> produce
 * passthrough (the same commit discipline as the engine) as the baseline, then the engine itself
 * (startEngine: every stage), twice: with its default settings (only non-ALLOW decisions go out)
 * and with ALLOW decisions emitted too, so every event yields one output record as in the baseline.
 *
 *   1. max throughput: each reads the same pre-filled input topic as a new consumer group;
 *   2. latency at R (default half the max of the engine with every decision out): a paced producer
 *      and a collector on the output topic measure send -> output arrival per event, for the
 *      passthrough and for the engine (every decision out, so every event is measured).
 *
 *   npm run bench [-- --events 200000 --partitions 3 --latency-seconds 30]   (scripts/bench.sh)
 *
 * Prints figures and the machine it ran on, writes bench-results/latest.json; asserts nothing.
 * Everything runs in this one process. The latency phase's load generator and collector run in a
 * worker thread, so the engine's synchronous work on the main thread does not delay their
 * timestamps; they still share the machine's cores with the engine, Kafka and Redis.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import { Kafka, Partitioners, logLevel, type Admin, type KafkaMessage, type Message } from 'kafkajs';
import type { RunningEngine } from '../src/cli/run';
import { loadSettings } from '../src/config/load';
import type { SessionAction } from '../src/contract';
import { encodeAction } from '../src/emit/encode';
import { RiskStreamError } from '../src/errors';
import { defaultRegistry } from '../src/ingest/schemas';
import { silentLogger } from '../src/log';
import type { Metrics } from '../src/metrics/metrics';
import { simulate } from '../src/sim/generate';
import { createTopics, deleteKeys, uniqueName } from '../test/helpers/services';

const ROOT = path.resolve(__dirname, '..');
/** The engine hands the pipeline at most this many records at once (src/cli/run.ts); so does the passthrough. */
const CHUNK = 2000;
const STAGES = ['decode', 'state', 'features', 'model', 'explain', 'emit'] as const;

// --- options -----------------------------------------------------------------------------------

interface Options {
  events: number;
  partitions: number;
  seed: number;
  latencyRate?: number;
  latencySeconds: number;
  warmupSeconds: number;
  latency: boolean;
  brokers: string[];
  redis: string;
  out: string;
  /** Engine setting overrides, `section.leaf=value`. */
  set: string[];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}
function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0');
  return n;
}

function parseOptions(argv: string[]): Options {
  const program = new Command('npm run bench --')
    .description('passthrough vs engine: max throughput on a pre-filled topic, then latency at a fixed rate')
    .option('--events <n>', 'input events', positiveInt, 200_000)
    .option('--partitions <n>', 'partitions of the input topics', positiveInt, 3)
    .option('--seed <n>', 'simulator seed', positiveInt, 1)
    .option(
      '--latency-rate <ev/s>',
      'rate of the latency phase (default: half the engine max)',
      positiveNumber,
    )
    .option('--latency-seconds <s>', 'measured seconds of each latency run', positiveNumber, 30)
    .option(
      '--warmup-seconds <s>',
      'seconds sent before measuring, in each latency run',
      nonNegativeNumber,
      3,
    )
    .option('--no-latency', 'skip the latency phase')
    .option(
      '--brokers <list>',
      'Kafka bootstrap brokers',
      (v) => v.split(','),
      (process.env.RISK_STREAM_BENCH_KAFKA ?? '127.0.0.1:19092').split(','),
    )
    .option('--redis <url>', 'Redis URL', process.env.RISK_STREAM_BENCH_REDIS ?? 'redis://127.0.0.1:6379')
    .option('--out <file>', 'results as JSON', path.join(ROOT, 'bench-results', 'latest.json'))
    .option(
      '--set <path=value>',
      'an engine setting, repeatable (e.g. kafka.partitionsConsumedConcurrently=3); ' +
        'the passthrough uses the same consumer settings',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .parse(argv);
  return program.opts<Options>();
}

/** `--set kafka.x=1` -> { kafka: { x: '1' } } (loadSettings validates names and values). */
function settingOverrides(set: readonly string[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const item of set) {
    const m = /^([a-zA-Z]+)\.([a-zA-Z]+)=(.*)$/.exec(item);
    if (!m) throw new InvalidArgumentError(`--set ${item}: expected section.setting=value`);
    (out[m[1]!] ??= {})[m[2]!] = m[3]!;
  }
  return out;
}

/** The consumer settings the passthrough shares with the engine. */
interface ConsumerSettings {
  sessionTimeout: number;
  maxBytesPerPartition: number;
  partitionsConsumedConcurrently: number;
}

// --- small helpers -----------------------------------------------------------------------------

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fix = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(d));
const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : 0);
const log = (line = '') => console.log(line);

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

class Interrupted extends Error {}
let interrupted = false;
/** Called once on Ctrl-C, for work that cannot poll `interrupted` (the load worker). */
const onInterrupt = new Set<() => void>();
function checkInterrupt(): void {
  if (interrupted) throw new Interrupted('interrupted');
}

/** Polls `cond` every `everyMs` until it holds; fails after `timeoutMs`, or at once on Ctrl-C. */
async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number, everyMs = 50) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    checkInterrupt();
    if (await cond()) return;
    if (performance.now() > deadline) throw new Error(`${what}: not done after ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
}

/** What happens to CPU time during a phase: this process, its main event loop, Redis, the broker, the machine. */
interface CpuSnapshot {
  at: number;
  proc: NodeJS.CpuUsage;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  machine: { busy: number; total: number };
  redisSec: number;
  brokerTicks: number | null;
}
interface CpuUse {
  /** Cores used (1.0 = one core busy) over the wall time. */
  process: number;
  /** Share of wall time the main thread's event loop was busy (1.0 = saturated). */
  mainLoop: number;
  redis: number;
  broker: number | null;
  /** All cores of the machine, anything running on it (1.0 = every core busy). */
  machineBusy: number;
  /** Cores used by everything else on the machine (other tests, builds): the figures are skewed when this is high. */
  others: number;
}

function machineTicks(): { busy: number; total: number } {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - (cpu[3] ?? 0) - (cpu[4] ?? 0), total };
}

/** The broker's pid when scripts/kafka.sh started it on this machine (else no broker CPU figure). */
function brokerPid(): number | null {
  try {
    const runDir = process.env.KAFKA_RUN_DIR ?? path.join(ROOT, '.run', 'kafka');
    const pid = Number(fs.readFileSync(path.join(runDir, 'kafka.pid'), 'utf8').trim());
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka') ? pid : null;
  } catch {
    return null;
  }
}

function procTicks(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime, fields 14 and 15 of the file
  } catch {
    return null;
  }
}

/** Calls and microseconds Redis spent in EVALSHA so far (the engine's Lua scripts). */
async function evalshaStats(redis: Redis): Promise<{ calls: number; usec: number }> {
  const line = /^cmdstat_evalsha:(.*)$/m.exec(await redis.info('commandstats'))?.[1] ?? '';
  const get = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(line)?.[1] ?? 0);
  return { calls: get('calls'), usec: get('usec') };
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

async function cpuSnapshot(redis: Redis, broker: number | null): Promise<CpuSnapshot> {
  return {
    at: performance.now(),
    proc: process.cpuUsage(),
    elu: performance.eventLoopUtilization(),
    machine: machineTicks(),
    redisSec: await redisCpuSeconds(redis),
    brokerTicks: procTicks(broker) ?? 0,
  };
}

function cpuUse(a: CpuSnapshot, b: CpuSnapshot, broker: number | null): CpuUse {
  const wallSec = (b.at - a.at) / 1000;
  const procSec = (b.proc.user - a.proc.user + b.proc.system - a.proc.system) / 1e6;
  const ticksPerSec = 100; // USER_HZ on Linux
  const proc = procSec / wallSec;
  const redis = (b.redisSec - a.redisSec) / wallSec;
  const brokerCores =
    broker === null ? null : ((b.brokerTicks ?? 0) - (a.brokerTicks ?? 0)) / ticksPerSec / wallSec;
  const machineBusy = (b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total);
  return {
    process: proc,
    mainLoop: performance.eventLoopUtilization(b.elu, a.elu).utilization,
    redis,
    broker: brokerCores,
    machineBusy,
    others: Math.max(0, machineBusy * os.cpus().length - proc - redis - (brokerCores ?? 0)),
  };
}

const fmtCpu = (c: CpuUse) =>
  `cpu: this process ${fix(c.process, 2)} cores (main event loop busy ${fix(100 * c.mainLoop, 0)}%), ` +
  `broker ${c.broker === null ? '?' : fix(c.broker, 2)}, redis ${fix(c.redis, 2)}, ` +
  `machine ${fix(100 * c.machineBusy, 0)}% of ${os.cpus().length} cores, everything else ${fix(c.others, 2)} cores`;

async function topicMessageCount(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

// --- cleanup -----------------------------------------------------------------------------------

/** Undo steps, run last-in first-out by `cleanUp` (normal end, failure and Ctrl-C alike). */
const cleanups: { what: string; fn: () => Promise<unknown> | void }[] = [];
const onCleanup = (what: string, fn: () => Promise<unknown> | void) => cleanups.push({ what, fn });

async function cleanUp(): Promise<void> {
  for (const { what, fn } of cleanups.splice(0).reverse()) {
    try {
      await Promise.race([
        fn(),
        sleep(30_000).then(() => {
          throw new Error('timed out after 30 s');
        }),
      ]);
    } catch (err) {
      console.error(`bench: cleanup "${what}" failed: ${(err as Error).message}`);
    }
  }
}

// --- input -------------------------------------------------------------------------------------

/** `count` simulated actions (about 32 per session), timestamps in the past so none is out of range. */
function generate(count: number, seed: number): SessionAction[] {
  let sessions = Math.max(1, Math.ceil(count / 32));
  for (;;) {
    const { events } = simulate({
      seed,
      sessions,
      attackRate: 0.1,
      start: Date.now() - 2 * 86_400_000,
      spanMs: 3_600_000,
    });
    if (events.length >= count) return events.slice(0, count);
    sessions = Math.ceil((sessions * count * 1.1) / Math.max(1, events.length));
  }
}

const toMessage = (e: SessionAction): Message => ({ key: e.session_id, value: encodeAction(e, 'avro') });

// --- the passthrough ---------------------------------------------------------------------------

interface Passthrough {
  handled(): number;
  chunks(): number;
  joined: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The baseline: what any Kafka consume -> produce service on kafkajs costs, with the engine's
 * discipline (src/ingest/kafka.ts): eachBatch in chunks of CHUNK, sendBatch with acks=all, then
 * commit; the same consumer and producer settings as src/cli/run.ts.
 */
async function startPassthrough(
  kafka: Kafka,
  settings: ConsumerSettings,
  groupId: string,
  from: string,
  to: string,
): Promise<Passthrough> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: settings.sessionTimeout,
    maxBytesPerPartition: settings.maxBytesPerPartition,
    allowAutoTopicCreation: false,
    retry: { retries: 10 },
  });
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 5 },
  });
  let handled = 0;
  let chunks = 0;
  let stopping = false;
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: from, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: settings.partitionsConsumedConcurrently,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (let i = 0; i < batch.messages.length; i += CHUNK) {
        if (stopping || !isRunning() || isStale()) return;
        const slice = batch.messages.slice(i, i + CHUNK);
        await producer.sendBatch({
          topicMessages: [{ topic: to, messages: slice.map((m) => ({ key: m.key, value: m.value })) }],
          acks: -1,
        });
        const last = slice[slice.length - 1]!.offset;
        resolveOffset(last);
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
        handled += slice.length;
        chunks++;
        await heartbeat();
      }
    },
  });
  return {
    handled: () => handled,
    chunks: () => chunks,
    joined,
    async stop() {
      stopping = true;
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

// --- throughput --------------------------------------------------------------------------------

interface Throughput {
  eventsPerSec: number;
  /** Events counted in the rate: those handled after the first chunk. */
  measuredEvents: number;
  measuredSeconds: number;
  /** From the consumer starting to the first chunk acknowledged and committed (group join, cold start). */
  firstChunkMs: number;
  totalSeconds: number;
  cpu: CpuUse;
}

/**
 * Runs until `count()` reaches n. The rate is taken from the first handled chunk to the last, so the
 * group join and the first chunk's cold start (JIT, Lua script load, first predict) stay out of it;
 * `snapshot` is called at both ends so the caller can take the same window's deltas of its own figures.
 */
async function runToEnd<S>(
  what: string,
  n: number,
  count: () => Promise<number>,
  redis: Redis,
  broker: number | null,
  snapshot: () => Promise<S>,
): Promise<{ throughput: Throughput; first: S; last: S }> {
  const startAt = performance.now();
  let first: { count: number; cpu: CpuSnapshot; s: S } | undefined;
  let seen = 0;
  let progressAt = startAt;
  let nextReport = startAt + 5000;
  for (;;) {
    checkInterrupt();
    const c = await count();
    const now = performance.now();
    if (c > 0 && first === undefined)
      first = { count: c, cpu: await cpuSnapshot(redis, broker), s: await snapshot() };
    if (c !== seen) [seen, progressAt] = [c, now];
    if (c >= n && first) {
      const cpu = await cpuSnapshot(redis, broker);
      const last = await snapshot();
      const measuredSeconds = (cpu.at - first.cpu.at) / 1000;
      return {
        throughput: {
          eventsPerSec: (c - first.count) / measuredSeconds,
          measuredEvents: c - first.count,
          measuredSeconds,
          firstChunkMs: first.cpu.at - startAt,
          totalSeconds: (cpu.at - startAt) / 1000,
          cpu: cpuUse(first.cpu, cpu, broker),
        },
        first: first.s,
        last,
      };
    }
    if (now - progressAt > 120_000) throw new Error(`${what}: no progress for 120 s at ${c} of ${n} events`);
    if (now > nextReport) {
      log(`  ${what}: ${int(c)} of ${int(n)} handled after ${fix((now - startAt) / 1000)} s`);
      nextReport += 5000;
    }
    await sleep(5);
  }
}

interface EngineFigures {
  events: number;
  stageSums: Record<string, number>;
  /** Seconds in the pipelined Redis call itself, part of the `state` stage. */
  redisSec: number;
  batchSum: number;
  batches: number;
  emitted: number;
  deadLetters: number;
  duplicates: number;
}

async function engineFigures(m: Metrics): Promise<EngineFigures> {
  const total = async (metric: { get(): Promise<{ values: { value: number }[] }> }) =>
    (await metric.get()).values.reduce((s, v) => s + v.value, 0);
  const stageSums: Record<string, number> = {};
  for (const v of (await m.stageSeconds.get()).values) {
    if (v.metricName === 'riskstream_stage_seconds_sum') stageSums[String(v.labels.stage)] = v.value;
  }
  const redisSec =
    (await m.redisRoundTrip.get()).values.find(
      (v) => v.metricName === 'riskstream_redis_round_trip_seconds_sum',
    )?.value ?? 0;
  const batch = (await m.batchSize.get()).values;
  const pick = (name: string) => batch.find((v) => v.metricName === name)?.value ?? 0;
  return {
    events: await total(m.events),
    stageSums,
    redisSec,
    batchSum: pick('riskstream_batch_size_sum'),
    batches: pick('riskstream_batch_size_count'),
    emitted: await total(m.decisionsEmitted),
    deadLetters: await total(m.deadLetters),
    duplicates: await total(m.duplicates),
  };
}

interface StageSplit {
  /** Seconds per stage over the measured window (riskstream_stage_seconds sums). */
  seconds: Record<string, number>;
  /** Share of the summed stage time, percent (adds up to 100). */
  percent: Record<string, number>;
  /** Microseconds per event. */
  usPerEvent: Record<string, number>;
  /**
   * Summed stage time over wall time. Below 1 with one partition at a time: the rest is fetching,
   * committing, policy, building decisions and metrics. Above 1 when partitions run concurrently.
   */
  stageTimeOverWall: number;
}

function stageSplit(a: EngineFigures, b: EngineFigures, wallSec: number, events: number): StageSplit {
  const seconds: Record<string, number> = {};
  for (const s of STAGES) seconds[s] = (b.stageSums[s] ?? 0) - (a.stageSums[s] ?? 0);
  const total = Object.values(seconds).reduce((x, y) => x + y, 0);
  const percent: Record<string, number> = {};
  const usPerEvent: Record<string, number> = {};
  for (const [k, v] of Object.entries(seconds)) {
    percent[k] = pct(v, total);
    usPerEvent[k] = (v * 1e6) / Math.max(1, events);
  }
  return { seconds, percent, usPerEvent, stageTimeOverWall: total / wallSec };
}

/** "1.52x wall (4 partitions at once)" or "0.94x wall (6% outside the stages)". */
function overWall(split: StageSplit, concurrency: number): string {
  const x = split.stageTimeOverWall;
  return concurrency > 1
    ? `stage time ${fix(x, 2)}x wall, up to ${concurrency} partitions at once`
    : `stage time ${fix(x, 2)}x wall: ${fix(100 * (1 - x), 0)}% outside the stages (fetch, commit, policy, metrics)`;
}

// --- latency (worker thread) -------------------------------------------------------------------

interface LoadConfig {
  brokers: string[];
  input: string;
  output: string;
  /** How an output record names its input event: the decision's event_id, or the passed-through action. */
  outputKind: 'decision' | 'action';
  collectorGroup: string;
  rate: number;
  warmupMs: number;
  measureMs: number;
  seed: number;
  tickMs: number;
  drainMs: number;
}

interface LatencyResult {
  rate: number;
  sent: number;
  measured: number;
  received: number;
  missing: number;
  duplicates: number;
  /** Events per second actually handed to the producer in the measured window. */
  achievedRate: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** How late the generator handed events to the producer compared with the schedule, ms. */
  generatorLagP99: number;
  generatorLagMax: number;
  generateMs: number;
}

/**
 * The worker: generates and encodes its events, joins a collector group on the output topic, then
 * produces at `rate` on an absolute schedule (every `tickMs`, whatever is due, keyed by session),
 * recording each event's send time; each output batch's arrival time is recorded as it comes.
 * Ids are matched afterwards, so no decoding happens while measuring.
 */
async function loadWorker(cfg: LoadConfig): Promise<void> {
  const port = parentPort!;
  let aborted = false;
  port.on('message', (m: { type: string }) => {
    if (m.type === 'abort') aborted = true;
  });
  // The listener alone must not keep the worker alive once its work is done.
  port.unref();

  const total = Math.ceil((cfg.rate * (cfg.warmupMs + cfg.measureMs)) / 1000);
  const t0gen = performance.now();
  const events = generate(total, cfg.seed);
  const messages = events.map(toMessage);
  const generateMs = performance.now() - t0gen;

  const kafka = new Kafka({
    clientId: 'risk-stream-bench-load',
    brokers: cfg.brokers,
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({ groupId: cfg.collectorGroup, allowAutoTopicCreation: false });
  const arrivals: { at: number; messages: KafkaMessage[] }[] = [];
  let received = 0;
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: cfg.output, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      arrivals.push({ at: performance.now(), messages: batch.messages });
      received += batch.messages.length;
    },
  });
  await joined;
  port.postMessage({
    type: 'progress',
    text: `load: ${int(total)} events generated in ${fix(generateMs / 1000, 2)} s; collector joined; sending`,
  });

  const sentAt = new Float64Array(total).fill(NaN);
  const dueAt = new Float64Array(total);
  const inflight = new Set<Promise<unknown>>();
  let sendError: Error | undefined;
  const t0 = performance.now();
  const totalMs = cfg.warmupMs + cfg.measureMs;
  let next = 0;
  for (let tick = 1; !aborted && next < total && !sendError; tick++) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) * cfg.rate) / 1000) + 1);
    if (due > next) {
      const batch = messages.slice(next, due);
      for (; next < due; next++) {
        sentAt[next] = now;
        dueAt[next] = t0 + (next * 1000) / cfg.rate;
      }
      const p: Promise<unknown> = producer
        .send({ topic: cfg.input, messages: batch, acks: -1 })
        .catch((err: Error) => (sendError = err))
        .finally(() => inflight.delete(p));
      inflight.add(p);
      // Bounded: a broker that stops answering must not make the generator buffer without end.
      if (inflight.size >= 32) await Promise.race(inflight);
    }
    const wait = t0 + tick * cfg.tickMs - performance.now();
    if (wait > 0) await sleep(wait);
    if (performance.now() - t0 > totalMs + 10_000) break; // the schedule is hopelessly behind
  }
  await Promise.all(inflight);
  if (sendError) throw sendError;
  const sent = next;
  port.postMessage({
    type: 'progress',
    text: `load: sent ${int(sent)} in ${fix((performance.now() - t0) / 1000, 1)} s; ${int(received)} outputs so far`,
  });

  // Drain: until every sent event has an output, or nothing new came for drainMs.
  let lastReceived = -1;
  let quietSince = performance.now();
  while (!aborted && received < sent) {
    if (received !== lastReceived) [lastReceived, quietSince] = [received, performance.now()];
    else if (performance.now() - quietSince > cfg.drainMs) break;
    await sleep(20);
  }
  port.postMessage({
    type: 'progress',
    text: `load: ${int(received)} outputs of ${int(sent)}; disconnecting`,
  });
  await consumer.disconnect();
  await producer.disconnect();
  if (aborted) {
    port.postMessage({ type: 'aborted' });
    return;
  }

  // Match outputs to events.
  const index = new Map<string, number>();
  events.slice(0, sent).forEach((e, i) => index.set(e.event_id, i));
  const { sessionActionType: actionType, decisionType } = defaultRegistry();
  const arrivedAt = new Float64Array(sent).fill(NaN);
  let duplicates = 0;
  for (const { at, messages: batch } of arrivals) {
    for (const m of batch) {
      let id: string | undefined;
      const type = cfg.outputKind === 'decision' ? decisionType : actionType;
      if (m.value) id = (type.fromBuffer(m.value) as { event_id: string }).event_id;
      const i = id === undefined ? undefined : index.get(id);
      if (i === undefined) continue;
      if (Number.isNaN(arrivedAt[i]!)) arrivedAt[i] = at;
      else duplicates++;
    }
  }
  const firstMeasured = Math.min(sent, Math.ceil((cfg.rate * cfg.warmupMs) / 1000));
  const lat: number[] = [];
  const lag: number[] = [];
  for (let i = firstMeasured; i < sent; i++) {
    lag.push(sentAt[i]! - dueAt[i]!);
    if (!Number.isNaN(arrivedAt[i]!)) lat.push(arrivedAt[i]! - sentAt[i]!);
  }
  const sorted = Float64Array.from(lat).sort();
  const lagSorted = Float64Array.from(lag).sort();
  const measured = sent - firstMeasured;
  const span = sent > firstMeasured ? (sentAt[sent - 1]! - sentAt[firstMeasured]!) / 1000 : NaN;
  const result: LatencyResult = {
    rate: cfg.rate,
    sent,
    measured,
    received: lat.length,
    missing: measured - lat.length,
    duplicates,
    achievedRate: measured / span,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    mean: lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length),
    generatorLagP99: quantile(lagSorted, 0.99),
    generatorLagMax: lagSorted.length ? lagSorted[lagSorted.length - 1]! : NaN,
    generateMs,
  };
  port.postMessage({ type: 'result', result });
}

/** Runs the load worker against a system already consuming `input`; resolves with its figures. */
function runLoad(cfg: LoadConfig): Promise<LatencyResult> {
  return new Promise<LatencyResult>((resolve, reject) => {
    // This same file in the worker, through tsx's require hook (the ESM loader hooks of the main
    // thread do not reach worker threads).
    const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(__filename)});`, {
      eval: true,
      execArgv: [],
      workerData: cfg,
    });
    // Ctrl-C: the worker stops sending and disconnects; terminated if that takes more than 10 s.
    const abort = () => {
      worker.postMessage({ type: 'abort' });
      setTimeout(() => void worker.terminate(), 10_000).unref();
    };
    onInterrupt.add(abort);
    let result: LatencyResult | undefined;
    let failure: string | undefined;
    worker.on('message', (m: { type: string; result?: LatencyResult; message?: string; text?: string }) => {
      if (m.type === 'result') result = m.result;
      if (m.type === 'error') failure = m.message;
      if (m.type === 'progress') log(m.text);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      onInterrupt.delete(abort);
      if (result) resolve(result);
      else if (interrupted) reject(new Interrupted('interrupted'));
      else reject(new Error(`load worker exited with code ${code}: ${failure ?? 'no result'}`));
    });
  });
}

function latencyLine(r: LatencyResult): string {
  return (
    `p50 ${fix(r.p50)} ms, p95 ${fix(r.p95)} ms, p99 ${fix(r.p99)} ms, max ${fix(r.max)} ms, mean ${fix(r.mean)} ms ` +
    `over ${int(r.received)} events at ${int(r.achievedRate)} ev/s` +
    (r.missing ? `, ${int(r.missing)} MISSING` : '') +
    (r.duplicates ? `, ${int(r.duplicates)} duplicate outputs` : '') +
    ` (generator lag p99 ${fix(r.generatorLagP99)} ms, max ${fix(r.generatorLagMax)} ms)`
  );
}

// --- the run -----------------------------------------------------------------------------------

/** What every phase shares: the clients, the run's names (all under one unique prefix), the engine factory. */
interface Ctx {
  opts: Options;
  run: string;
  kafka: Kafka;
  admin: Admin;
  redis: Redis;
  broker: number | null;
  topics: Record<
    | 'input'
    | 'passthrough'
    | 'decisions'
    | 'decisionsDefault'
    | 'deadLetters'
    | 'latPtIn'
    | 'latPtOut'
    | 'latEngIn'
    | 'latEngOut'
    | 'latEngDead',
    string
  >;
  keyPrefix: string;
  /** From the engine's settings (defaults plus --set), for the passthrough. */
  consumer: ConsumerSettings;
  /** A consumer group name of this run (remembered, to delete it at the end). */
  group(name: string): string;
  /** emitAllow defaults to true: every event yields an output record, as in the passthrough. */
  startEngine(
    groupId: string,
    input: string,
    output: string,
    dead: string,
    prefix: string,
    emitAllow?: boolean,
  ): Promise<RunningEngine>;
}

type Machine = Awaited<ReturnType<typeof describeMachine>>;

async function describeMachine(ctx: Ctx) {
  const redisInfo = await ctx.redis.info('server');
  const pom = fs.readFileSync(path.join(ROOT, 'pom.xml'), 'utf8');
  let kafka = /<kafka\.version>([^<]+)</.exec(pom)?.[1] ?? '?';
  try {
    const runDir = process.env.KAFKA_RUN_DIR ?? path.join(ROOT, '.run', 'kafka');
    const seen = [
      ...fs.readFileSync(path.join(runDir, 'logs', 'server.log'), 'utf8').matchAll(/Kafka version: (\S+)/g),
    ].pop()?.[1];
    if (seen && ctx.broker !== null) kafka = seen; // the running broker's own start-up line
  } catch {
    // no local broker log: the version scripts/kafka.sh fetches
  }
  const m = {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown cpu',
    cores: os.cpus().length,
    memGB: os.totalmem() / 1024 ** 3,
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    kafka,
    redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? '?',
    /** Read off riskstream_model_info once the engine runs. */
    model: '?',
    backend: '?',
    loadAvg: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
  log(`cpu     ${m.cpu} x${m.cores}, ${fix(m.memGB)} GB, ${m.os}`);
  log(`node    ${m.node}, kafka ${m.kafka} (${ctx.opts.brokers.join(',')}), redis ${m.redis}`);
  log(`load    ${m.loadAvg.join(' ')} (1/5/15 min before the run: anything else running skews the figures)`);
  return m;
}

/** Generates, encodes and produces the input; creates every topic of the run. */
async function prepareInput(ctx: Ctx) {
  const { opts, topics, admin } = ctx;
  let t = performance.now();
  const events = generate(opts.events, opts.seed);
  const sessions = new Set(events.map((e) => e.session_id)).size;
  const generateMs = performance.now() - t;
  t = performance.now();
  const messages = events.map(toMessage);
  const encodeMs = performance.now() - t;
  const bytes = messages.reduce((s, m) => s + (m.value as Buffer).length, 0);
  log(
    `generated ${int(events.length)} actions of ${int(sessions)} sessions in ${fix(generateMs / 1000, 2)} s`,
  );
  log(`encoded as Avro in ${fix(encodeMs / 1000, 2)} s, mean ${fix(bytes / events.length)} bytes`);

  await createTopics(admin, Object.values(topics), opts.partitions);
  log(`topics ${ctx.run}-* (${opts.partitions} partitions each)`);

  const producer = ctx.kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    t = performance.now();
    const inflight = new Set<Promise<unknown>>();
    let failed: Error | undefined;
    for (let i = 0; i < messages.length && !failed; i += CHUNK) {
      checkInterrupt();
      const p: Promise<unknown> = producer
        .send({ topic: topics.input, messages: messages.slice(i, i + CHUNK), acks: -1 })
        .catch((err: Error) => (failed ??= err))
        .finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= 4) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failed) throw failed;
  } finally {
    await producer.disconnect();
  }
  const produceSec = (performance.now() - t) / 1000;
  const onTopic = await topicMessageCount(admin, topics.input);
  const produce = {
    eventsPerSec: events.length / produceSec,
    MBps: bytes / 1e6 / produceSec,
    seconds: produceSec,
  };
  log(
    `produced ${int(onTopic)} records in ${fix(produceSec, 2)} s: ${int(produce.eventsPerSec)} ev/s, ` +
      `${fix(produce.MBps)} MB/s (acks=all, ${CHUNK} per request, 4 requests in flight)`,
  );
  return { events: events.length, sessions, meanBytes: bytes / events.length, generateMs, encodeMs, produce };
}

async function passthroughThroughput(ctx: Ctx, n: number) {
  const pt = await startPassthrough(
    ctx.kafka,
    ctx.consumer,
    ctx.group('passthrough'),
    ctx.topics.input,
    ctx.topics.passthrough,
  );
  onCleanup('stop passthrough', () => pt.stop());
  const snap = async () => ({ chunks: pt.chunks() });
  const r = await runToEnd('passthrough', n, async () => pt.handled(), ctx.redis, ctx.broker, snap);
  await pt.stop();
  const tp = r.throughput;
  const outputRecords = await topicMessageCount(ctx.admin, ctx.topics.passthrough);
  const meanChunk = tp.measuredEvents / Math.max(1, r.last.chunks - r.first.chunks);
  log(
    `${int(tp.eventsPerSec)} ev/s (${int(tp.measuredEvents)} events in ${fix(tp.measuredSeconds, 2)} s ` +
      `after the first chunk at ${int(tp.firstChunkMs)} ms), mean chunk ${int(meanChunk)}, ${int(outputRecords)} records out`,
  );
  log(fmtCpu(tp.cpu));
  return { ...tp, meanChunk, outputRecords };
}

/**
 * The engine on the pre-filled input. `emitAllow` false is its default configuration (only
 * STEP_UP / BLOCK_ACTION / TERMINATE decisions go out); true writes one decision per event, the
 * same output volume as the passthrough.
 */
async function engineThroughput(ctx: Ctx, n: number, machine: Machine, emitAllow: boolean) {
  const { topics } = ctx;
  const t = performance.now();
  const name = emitAllow ? 'all' : 'default';
  const output = emitAllow ? topics.decisions : topics.decisionsDefault;
  const eng = await ctx.startEngine(
    ctx.group(`engine-${name}`),
    topics.input,
    output,
    topics.deadLetters,
    `${ctx.keyPrefix}max-${name}:`,
    emitAllow,
  );
  onCleanup('stop engine', () => eng.stop());
  log(`engine started in ${int(performance.now() - t)} ms (model loaded, clients connected)`);
  const info = (await eng.metrics.modelInfo.get()).values[0]?.labels ?? {};
  machine.model = String(info.version ?? '?');
  machine.backend = String(info.backend ?? '?');
  log(
    `model   ${String(info.name)} ${machine.model} (features v${String(info.feature_version)}) on ${machine.backend}`,
  );

  const figures = async () => ({ ...(await engineFigures(eng.metrics)), lua: await evalshaStats(ctx.redis) });
  const r = await runToEnd('engine', n, async () => (await figures()).events, ctx.redis, ctx.broker, figures);
  await eng.stop();
  const luaCalls = r.last.lua.calls - r.first.lua.calls;
  const luaUs = r.last.lua.usec - r.first.lua.usec;
  const tp = r.throughput;
  const stages = stageSplit(r.first, r.last, tp.measuredSeconds, tp.measuredEvents);
  const batches = r.last.batches - r.first.batches;
  const meanBatch = (r.last.batchSum - r.first.batchSum) / Math.max(1, batches);
  const redisShare = pct(r.last.redisSec - r.first.redisSec, stages.seconds.state ?? 0);
  const outputRecords = await topicMessageCount(ctx.admin, output);
  log(
    `${int(tp.eventsPerSec)} ev/s (${int(tp.measuredEvents)} events in ${fix(tp.measuredSeconds, 2)} s ` +
      `after the first chunk at ${int(tp.firstChunkMs)} ms), ${int(batches)} batches of ${int(meanBatch)} on average`,
  );
  log(
    `${int(r.last.emitted)} decisions emitted, ${int(outputRecords)} records out, ` +
      `${int(r.last.deadLetters)} dead letters, ${int(r.last.duplicates)} duplicates`,
  );
  log(fmtCpu(tp.cpu));
  log('stage      share   us/event  ms/batch');
  for (const k of STAGES)
    log(
      `${k.padEnd(9)} ${fix(stages.percent[k]).padStart(5)}% ${fix(stages.usPerEvent[k]).padStart(9)}` +
        fix(((stages.seconds[k] ?? 0) * 1000) / Math.max(1, batches), 2).padStart(10),
    );
  log(
    `(state: ${fix(redisShare, 0)}% of it the pipelined Redis round trip (riskstream_redis_round_trip_seconds); ` +
      `inside Redis, ${int(luaCalls)} EVALSHA took ${fix(luaUs / Math.max(1, luaCalls))} us each, ` +
      `${fix(luaUs / Math.max(1, tp.measuredEvents))} us per event (INFO commandstats, server-wide: ` +
      `other clients' scripts count too))`,
  );
  log(`(shares of the summed stage time; ${overWall(stages, ctx.consumer.partitionsConsumedConcurrently)})`);
  return {
    ...tp,
    batches,
    meanBatch,
    stages,
    stateRedisRoundTripPercent: redisShare,
    redisEvalsha: {
      calls: luaCalls,
      usPerCall: luaUs / Math.max(1, luaCalls),
      usPerEvent: luaUs / Math.max(1, tp.measuredEvents),
    },
    emitted: r.last.emitted,
    deadLetters: r.last.deadLetters,
    duplicates: r.last.duplicates,
    outputRecords,
  };
}

function loadConfig(
  ctx: Ctx,
  rate: number,
  input: string,
  output: string,
  kind: LoadConfig['outputKind'],
): LoadConfig {
  return {
    brokers: ctx.opts.brokers,
    input,
    output,
    outputKind: kind,
    collectorGroup: ctx.group(`collector-${kind}`),
    rate,
    warmupMs: ctx.opts.warmupSeconds * 1000,
    measureMs: ctx.opts.latencySeconds * 1000,
    seed: ctx.opts.seed + 1,
    tickMs: 5,
    drainMs: 15_000,
  };
}

async function passthroughLatency(ctx: Ctx, rate: number): Promise<LatencyResult> {
  const { topics } = ctx;
  const pt = await startPassthrough(
    ctx.kafka,
    ctx.consumer,
    ctx.group('lat-passthrough'),
    topics.latPtIn,
    topics.latPtOut,
  );
  onCleanup('stop latency passthrough', () => pt.stop());
  let joined = false;
  void pt.joined.then(() => (joined = true));
  await waitFor('passthrough group join', async () => joined, 60_000);
  const r = await runLoad(loadConfig(ctx, rate, topics.latPtIn, topics.latPtOut, 'action'));
  await pt.stop();
  log(latencyLine(r));
  return r;
}

async function engineLatency(ctx: Ctx, rate: number): Promise<LatencyResult & { meanBatch: number }> {
  const { topics } = ctx;
  const eng = await ctx.startEngine(
    ctx.group('lat-engine'),
    topics.latEngIn,
    topics.latEngOut,
    topics.latEngDead,
    `${ctx.keyPrefix}lat:`,
  );
  onCleanup('stop latency engine', () => eng.stop());
  await waitFor(
    'engine ready',
    async () => (await eng.server.inject({ method: 'GET', url: '/readyz' })).statusCode === 200,
    60_000,
  );
  const before = await engineFigures(eng.metrics);
  const r = await runLoad(loadConfig(ctx, rate, topics.latEngIn, topics.latEngOut, 'decision'));
  const after = await engineFigures(eng.metrics);
  await eng.stop();
  const meanBatch = (after.batchSum - before.batchSum) / Math.max(1, after.batches - before.batches);
  log(latencyLine(r));
  log(`engine: mean batch ${fix(meanBatch)} at this rate, ${int(after.deadLetters)} dead letters`);
  return { ...r, meanBatch };
}

async function bench(opts: Options): Promise<void> {
  const started = new Date();
  // --set first, then what the bench needs: its own topics, group and keys, every decision emitted.
  const extra = settingOverrides(opts.set);
  const settingsFor = (
    groupId: string,
    input: string,
    output: string,
    dead: string,
    prefix: string,
    emitAllow = true,
  ) =>
    loadSettings({
      env: {},
      overrides: {
        ...extra,
        kafka: {
          ...extra.kafka,
          brokers: opts.brokers,
          clientId: 'risk-stream-bench-engine',
          groupId,
          actionsTopic: input,
          decisionsTopic: output,
          deadLetterTopic: dead,
          emitAllow,
          fromBeginning: true,
        },
        redis: { ...extra.redis, url: opts.redis, keyPrefix: prefix },
        http: { ...extra.http, enabled: false },
      },
    });
  // Validates --set before anything starts.
  const base = settingsFor('g', 'i', 'o', 'd', 'p:');
  if (opts.set.length > 0) log(`engine settings: ${opts.set.join(' ')}`);
  const phases: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    log(`\n== ${name}`);
    try {
      return await fn();
    } finally {
      phases[name] = (performance.now() - t) / 1000;
      log(`   (${fix(phases[name])} s)`);
    }
  };

  const kafka = new Kafka({
    clientId: 'risk-stream-bench',
    brokers: opts.brokers,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  onCleanup('disconnect admin', () => admin.disconnect());
  const redis = new Redis(opts.redis, { maxRetriesPerRequest: 2 });
  onCleanup('disconnect redis', () => redis.disconnect());
  // Loaded here, not at the top: the load worker imports this file and needs no TF.js.
  const { startEngine } = await import('../src/cli/run');

  const run = uniqueName('bench');
  const groups: string[] = [];
  const ctx: Ctx = {
    opts,
    run,
    kafka,
    admin,
    redis,
    broker: brokerPid(),
    topics: {
      input: `${run}-actions`,
      passthrough: `${run}-passthrough`,
      decisions: `${run}-decisions`,
      decisionsDefault: `${run}-decisions-default`,
      deadLetters: `${run}-dead-letters`,
      latPtIn: `${run}-lat-pt-actions`,
      latPtOut: `${run}-lat-pt-passthrough`,
      latEngIn: `${run}-lat-actions`,
      latEngOut: `${run}-lat-decisions`,
      latEngDead: `${run}-lat-dead-letters`,
    },
    keyPrefix: `rs-${run}:`,
    group(name) {
      groups.push(`${run}-${name}`);
      return `${run}-${name}`;
    },
    consumer: {
      sessionTimeout: base.kafka.sessionTimeout,
      maxBytesPerPartition: base.kafka.maxBytesPerPartition,
      partitionsConsumedConcurrently: base.kafka.partitionsConsumedConcurrently,
    },
    startEngine: (groupId, input, output, dead, prefix, emitAllow) =>
      startEngine(settingsFor(groupId, input, output, dead, prefix, emitAllow), silentLogger()),
  };
  onCleanup('delete redis keys', () => deleteKeys(redis, ctx.keyPrefix));
  onCleanup('delete consumer groups', () => admin.deleteGroups(groups).catch(() => undefined));
  onCleanup('delete topics', () => admin.deleteTopics({ topics: Object.values(ctx.topics) }));

  const machine = await phase('machine', () => describeMachine(ctx));
  const input = await phase('input', () => prepareInput(ctx));
  const passthrough = await phase('passthrough max throughput', () =>
    passthroughThroughput(ctx, input.events),
  );
  const engineDefault = await phase('engine max throughput, default settings (non-ALLOW decisions out)', () =>
    engineThroughput(ctx, input.events, machine, false),
  );
  const engine = await phase('engine max throughput, ALLOW decisions out too (one output per event)', () =>
    engineThroughput(ctx, input.events, machine, true),
  );
  const ratio = engineDefault.eventsPerSec / passthrough.eventsPerSec;
  const ratioAll = engine.eventsPerSec / passthrough.eventsPerSec;
  log(
    `\nratio engine/passthrough: ${fix(ratio, 2)} with default settings, ${fix(ratioAll, 2)} with ALLOW out too (target >= 0.5)`,
  );

  const rate = Math.round(opts.latencyRate ?? Math.max(1, engine.eventsPerSec / 2));
  let latency: { passthrough: LatencyResult; engine: LatencyResult & { meanBatch: number } } | undefined;
  if (opts.latency) {
    latency = {
      passthrough: await phase(`passthrough latency at ${int(rate)} ev/s`, () =>
        passthroughLatency(ctx, rate),
      ),
      engine: await phase(`engine latency at ${int(rate)} ev/s`, () => engineLatency(ctx, rate)),
    };
  }

  // The table.
  const date = started.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  const cols = (name: string, values: string[]) =>
    name.padEnd(22) + values.map((v, i) => v.padStart(i ? 9 : 17)).join('');
  const row = (name: string, evps: number, l: LatencyResult | undefined) =>
    cols(name, [int(evps), fix(l?.p50), fix(l?.p95), fix(l?.p99), fix(l?.max)]);
  const cpu = engine.cpu;
  const lines = [
    `risk-stream bench — ${date}, ${machine.cpu} x${machine.cores}, ${fix(machine.memGB)} GB, node ${machine.node}, ` +
      `kafka ${machine.kafka}, redis ${machine.redis}, model ${machine.model} on ${machine.backend}`,
    `events ${input.events}, partitions ${opts.partitions}, up to ${ctx.consumer.partitionsConsumedConcurrently} ` +
      `partitions processed at once${opts.set.length ? `, engine ${opts.set.join(' ')}` : ''}`,
    `one process (engine or passthrough on the main thread, latency load generator and collector in a ` +
      `worker thread) sharing ${machine.cores} cores with Kafka and Redis`,
    cols('', ['throughput ev/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms']) +
      (latency ? `   (latency at ${int(rate)} ev/s)` : '   (latency not measured)'),
    row('passthrough (kafkajs)', passthrough.eventsPerSec, latency?.passthrough),
    row('engine (default)', engineDefault.eventsPerSec, undefined),
    row('engine (ALLOW out too)', engine.eventsPerSec, latency?.engine),
    `ratio engine/passthrough: ${fix(ratio, 2)} with default settings (non-ALLOW decisions out), ` +
      `${fix(ratioAll, 2)} with every decision out   (target >= 0.5)`,
    `engine default at max: ${int(engineDefault.outputRecords)} decisions out of ${int(input.events)} events; ` +
      `process ${fix(engineDefault.cpu.process, 2)} cores, main event loop busy ${fix(100 * engineDefault.cpu.mainLoop, 0)}%, ` +
      `redis ${fix(engineDefault.cpu.redis, 2)} cores`,
    'engine stage split: ' +
      STAGES.map((k) => `${k} ${fix(engine.stages.percent[k], 0)}%`).join(' ') +
      `; mean batch ${int(engine.meanBatch)}` +
      (latency ? ` (${fix(latency.engine.meanBatch)} at ${int(rate)} ev/s)` : ''),
    `  (${overWall(engine.stages, ctx.consumer.partitionsConsumedConcurrently)})`,
    `engine (ALLOW out too) at max: process ${fix(cpu.process, 2)} cores, main event loop busy ${fix(100 * cpu.mainLoop, 0)}%, ` +
      `broker ${cpu.broker === null ? '?' : fix(cpu.broker, 2)} cores, redis ${fix(cpu.redis, 2)} cores, ` +
      `machine ${fix(100 * cpu.machineBusy, 0)}% busy, everything else ${fix(cpu.others, 2)} cores`,
    'phases: ' +
      Object.entries(phases)
        .map(([k, v]) => `${k} ${fix(v)} s`)
        .join(', '),
  ];
  log('\n' + lines.join('\n'));

  const results = {
    date: started.toISOString(),
    machine,
    options: { ...opts, latencyRate: rate },
    consumerSettings: ctx.consumer,
    input,
    passthrough: { throughput: passthrough, latency: latency?.passthrough ?? null },
    engineDefault: { throughput: engineDefault },
    engine: { throughput: engine, latency: latency?.engine ?? null },
    ratio,
    ratioAllDecisions: ratioAll,
    phasesSeconds: phases,
    notes: [
      'throughput: events handled (output acknowledged with acks=all, then input offsets committed) after the first chunk, over the time from the first chunk to the last',
      'latency: arrival of the output record at a consumer minus the time its event was handed to the producer, both read in the same worker thread',
      `one process on ${machine.cores} cores shared with the Kafka broker and Redis: figures compare the two on this machine; they are not a capacity`,
    ],
    summary: lines,
  };
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, await formatJson(JSON.stringify(results, null, 2) + '\n', opts.out));
  log(`\nresults: ${path.relative(process.cwd(), opts.out) || opts.out}`);
}

/** Formatted as the repo's prettier would, so `npm run format:check` passes on it (plain JSON without prettier). */
async function formatJson(json: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    return await prettier.format(json, { ...(await prettier.resolveConfig(file)), filepath: file });
  } catch {
    return json;
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv);
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // npm, npx and tsx each pass a terminal's Ctrl-C on: the copies arrive within a second.
      if (performance.now() - firstSignalAt < 2000) return;
      console.error(`bench: ${signal} again: exiting without cleanup`);
      process.exit(130);
    }
    interrupted = true;
    firstSignalAt = performance.now();
    console.error(`\nbench: ${signal}: cleaning up (topics, groups, keys); Ctrl-C again to exit at once`);
    for (const f of onInterrupt) f();
    setTimeout(() => process.exit(130), 90_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let rc = 0;
  const t = performance.now();
  try {
    await bench(opts);
  } catch (err) {
    if (err instanceof Interrupted || interrupted) rc = 130;
    else {
      // A bad option or setting says what is wrong; anything else gets its stack.
      const plain =
        err instanceof InvalidArgumentError ||
        (err instanceof RiskStreamError && err.code === 'CONFIG_INVALID');
      console.error(
        `bench: FAILED: ${plain ? (err as Error).message : ((err as Error).stack ?? String(err))}`,
      );
      rc = 1;
    }
  } finally {
    await cleanUp();
  }
  log(
    `bench: ${rc === 0 ? 'done' : rc === 130 ? 'interrupted, cleaned up' : 'failed, cleaned up'} in ${fix((performance.now() - t) / 1000)} s`,
  );
  // kafkajs and the TF.js backend may hold timers or handles: the results are written, leave.
  process.exit(rc);
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  loadWorker(workerData as LoadConfig).catch((err: unknown) => {
    parentPort?.postMessage({ type: 'error', message: (err as Error).message });
    process.exitCode = 1;
  });
}
