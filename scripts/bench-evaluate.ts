/**
 * `npm run bench:evaluate`: latency of the inline evaluation API (POST /v1/evaluate) at a fixed
 * request rate, against the real engine (`node bin/risk-stream.js run`, child process) on a real
 * Kafka and Redis, measured from ANOTHER child process (the load generator), next to a baseline
 * of GET /healthz on the same engine at the same rate (HTTP + Node without the pipeline).
 *
 *   npm run bench:evaluate                            1000 req/s, 20 connections, 5 s warm-up, 30 s
 *   npm run bench:evaluate -- --no-publish            http.evaluatePublish=false (no wait for Kafka)
 *   npm run bench:evaluate -- --pacer uniform         evenly spaced requests instead of autocannon
 *   npm run bench:evaluate -- --rate 500 --seconds 60 --json bench-results/evaluate.json
 *
 * Builds dist/ first when a source file is newer than its output (--no-build skips that).
 * RISK_STREAM_* variables in the environment reach the engine (e.g. RISK_STREAM_HTTP_EVALUATE_MAX_BATCH).
 * Each request is one simulated SessionAction (src/sim) with a fresh event_id and ts = now.
 * Latencies are recorded per response in fractional ms by the load process itself (autocannon's
 * own histogram keeps whole ms, and with a rate set its coordinated-omission correction assumes
 * a 1 ms interval). Note that autocannon's overallRate is a per-connection quota per second: each
 * connection sends its share back to back at the start of every second, so the arrivals come in
 * bursts (see "responses per 10 ms window"); `--pacer uniform` sends one request every 1/rate s and
 * measures from the time each request was due (open loop, queueing in the client included).
 * Prints figures and the machine it ran on; asserts nothing.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { simulate } from '../src/sim/generate';
import { createTopics, deleteKeys, freePort, uniqueName } from '../test/helpers/services';

const ROOT = path.resolve(__dirname, '..');
const BUDGET_MS = 10;
const DECISIONS = ['ALLOW', 'STEP_UP', 'BLOCK_ACTION', 'TERMINATE'] as const;

// ---------------------------------------------------------------------------------------------
// the load process
// ---------------------------------------------------------------------------------------------

interface LoadSpec {
  base: string;
  token: string;
  evaluate: boolean;
  pacer: 'autocannon' | 'uniform';
  rate: number;
  connections: number;
  warmup: number;
  seconds: number;
  sessions: number;
  attackRate: number;
  /** Share of requests sent with another session's client (a replayed session token). */
  foreign: number;
  seed: number;
}

interface LoadResult {
  seconds: number;
  responses: number;
  /** Latencies (ms) of 2xx responses, sorted. */
  latencies: number[];
  non2xx: Record<string, number>;
  errors: number;
  /** Decisions counted from the response bodies. */
  mix: Record<string, number>;
  /** Responses per 10 ms window of the run: median, p99, max (how even the load was). */
  per10ms: { p50: number; p99: number; max: number };
  /**
   * Sessions; share of requests whose client differs from the session's first one (the simulator's
   * own drift: mobile networks, VPNs, travel, its attack scenarios; plus the injected foreign ones).
   */
  traffic: { sessions: number; drift: number; foreign: number; attacker: number };
  /** CPU of the load process itself, in cores. */
  cpuCores: number;
}

type ToChild = { type: 'run'; spec: LoadSpec } | { type: 'go' };
type FromChild = { type: 'warm' } | { type: 'result'; result: LoadResult };

/**
 * Simulated actions in time order, each sent with a fresh event_id and ts = now. The sessions
 * start within 5 minutes of simulated time, so a run of a few ten thousand requests interleaves
 * all of them; every 1/foreign-th request comes from another session's client instead.
 */
function trafficSource(spec: LoadSpec) {
  const { events, labels } = simulate({
    seed: spec.seed,
    sessions: spec.sessions,
    attackRate: spec.attackRate,
    start: Date.now() - 3_600_000,
    spanMs: 300_000,
  });
  const foreignEvery = spec.foreign > 0 ? Math.max(1, Math.round(1 / spec.foreign)) : 0;
  const first = new Map<string, string>();
  let i = 0;
  let drift = 0;
  let foreign = 0;
  let attacker = 0;
  return {
    next(): string {
      const k = i++ % events.length;
      const e = events[k]!;
      let client = e.client;
      if (foreignEvery > 0 && i % foreignEvery === 0) {
        let j = (k * 7919 + 104_729) % events.length;
        while (events[j]!.session_id === e.session_id) j = (j + 1) % events.length;
        client = events[j]!.client;
        foreign++;
      }
      const fp = `${client.ip}|${client.user_agent}|${client.ja4}|${client.device_id}`;
      const seen = first.get(e.session_id);
      if (seen === undefined) first.set(e.session_id, fp);
      else if (seen !== fp) drift++;
      if (labels[k]!.actor === 'attacker') attacker++;
      return JSON.stringify({ ...e, client, event_id: randomUUID(), ts: Date.now() });
    },
    stats: () => {
      const n = Math.max(1, i);
      return { sessions: first.size, drift: drift / n, foreign: foreign / n, attacker: attacker / n };
    },
  };
}

/** What one measured (or warm-up) run records, whichever pacer sends. */
class Recorder {
  readonly latencies: number[] = [];
  readonly doneAt: number[] = [];
  readonly non2xx: Record<string, number> = {};
  readonly mix: Record<string, number> = {};
  errors = 0;

  response(status: number, ms: number): void {
    this.doneAt.push(performance.now());
    if (status >= 200 && status < 300) this.latencies.push(ms);
    else this.non2xx[status] = (this.non2xx[status] ?? 0) + 1;
  }

  /** Counts the decision in a 200 answer of /v1/evaluate. */
  body(status: number, text: string): void {
    const d = status === 200 ? /"decision":"(\w+)"/.exec(text)?.[1] : undefined;
    if (d !== undefined) this.mix[d] = (this.mix[d] ?? 0) + 1;
  }

  result(seconds: number, traffic: LoadResult['traffic'], cpuCores: number): LoadResult {
    const t0 = this.doneAt[0] ?? 0;
    const windows = new Array<number>(Math.max(1, Math.ceil(seconds * 100))).fill(0);
    for (const t of this.doneAt) {
      const w = Math.floor((t - t0) / 10);
      if (w < windows.length) windows[w]!++;
    }
    windows.sort((a, b) => a - b);
    return {
      seconds,
      responses: this.doneAt.length,
      latencies: this.latencies.sort((a, b) => a - b),
      non2xx: this.non2xx,
      errors: this.errors,
      mix: this.mix,
      per10ms: { p50: pct(windows, 0.5), p99: pct(windows, 0.99), max: windows.at(-1) ?? 0 },
      traffic,
      cpuCores,
    };
  }
}

function runAutocannon(spec: LoadSpec, seconds: number, body: () => string, rec: Recorder): Promise<void> {
  const url = new URL(spec.evaluate ? '/v1/evaluate' : '/healthz', spec.base);
  const headers = { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' };
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: url.href,
        connections: spec.connections,
        overallRate: spec.rate,
        duration: seconds,
        timeout: 10,
        requests: [
          spec.evaluate
            ? {
                method: 'POST',
                setupRequest: (req) => ({ ...req, headers, body: body() }),
                onResponse: (status, text) => rec.body(status, text),
              }
            : { method: 'GET' },
        ],
      },
      (err: unknown) => (err ? reject(err as Error) : resolve()),
    );
    instance.on('response', (_client, status, _bytes, ms) => rec.response(status, ms));
    instance.on('reqError', () => rec.errors++);
  });
}

/** Open loop: request k is due at t0 + k/rate; its latency counts from then, waiting for a socket included. */
function runUniform(spec: LoadSpec, seconds: number, body: () => string, rec: Recorder): Promise<void> {
  const url = new URL(spec.evaluate ? '/v1/evaluate' : '/healthz', spec.base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const total = Math.round(spec.rate * seconds);
  const interval = 1000 / spec.rate;
  const t0 = performance.now();
  let sent = 0;
  let open = 0;
  return new Promise((resolve) => {
    const finished = () => {
      if (sent === total && open === 0) {
        agent.destroy();
        resolve();
      }
    };
    const fire = (due: number) => {
      open++;
      const payload = spec.evaluate ? body() : undefined;
      const req = http.request(url, {
        agent,
        method: spec.evaluate ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' },
        timeout: 10_000,
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          rec.response(res.statusCode ?? 0, performance.now() - due);
          if (spec.evaluate) rec.body(res.statusCode ?? 0, Buffer.concat(chunks).toString());
          open--;
          finished();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        rec.errors++;
        open--;
        finished();
      });
      req.end(payload);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) fire(t0 + sent++ * interval);
      if (sent < total) setTimeout(tick, 1);
      else finished();
    };
    tick();
  });
}

async function loadChild(): Promise<void> {
  const send = (msg: FromChild) => process.send?.(msg);
  const next = () => new Promise<ToChild>((resolve) => process.once('message', (m: ToChild) => resolve(m)));
  const first = await next();
  if (first.type !== 'run') throw new Error('load process: expected a run message');
  const spec = first.spec;
  const source = spec.evaluate ? trafficSource(spec) : null;
  const body = () => source?.next() ?? '';
  const run = spec.pacer === 'uniform' ? runUniform : runAutocannon;
  if (spec.warmup > 0) await run(spec, spec.warmup, body, new Recorder());
  send({ type: 'warm' });
  if ((await next()).type !== 'go') throw new Error('load process: expected go');
  const rec = new Recorder();
  const started = performance.now();
  const cpu = process.cpuUsage();
  await run(spec, spec.seconds, body, rec);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const traffic = source?.stats() ?? { sessions: 0, drift: 0, foreign: 0, attacker: 0 };
  const result = rec.result(seconds, traffic, (used.user + used.system) / 1e6 / seconds);
  // Disconnect only once the (large) result is sent: before that, it would be lost.
  process.send?.({ type: 'result', result } satisfies FromChild, () => process.disconnect?.());
}

// ---------------------------------------------------------------------------------------------
// the engine's /metrics
// ---------------------------------------------------------------------------------------------

type Scrape = Map<string, number>;

async function scrape(base: string): Promise<Scrape> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const diff = (a: Scrape, b: Scrape): Scrape => new Map([...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)]));

/** Series of one metric, by the value of one label: `name{...label="x"...}` -> x. */
function byLabel(m: Scrape, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`${label}="([^"]*)"`);
  for (const [k, v] of m) {
    if (!k.startsWith(`${name}{`)) continue;
    const value = re.exec(k)?.[1];
    if (value !== undefined) out[value] = (out[value] ?? 0) + v;
  }
  return out;
}

/** Sum of the series whose name ends with `suffix` (whatever the prefix), with `label` when given. */
const endingWith = (m: Scrape, suffix: string, label?: string): number =>
  [...m]
    .filter(([k]) => {
      const name = k.split('{')[0]!;
      return name.endsWith(suffix) && (label === undefined || k.includes(label));
    })
    .reduce((s, [, v]) => s + v, 0);

/** Quantile of a Prometheus histogram (its cumulative bucket deltas), linear within the bucket. */
function histQuantile(m: Scrape, name: string, q: number): number | null {
  const buckets = Object.entries(byLabel(m, `${name}_bucket`, 'le'))
    .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  let lower = 0;
  let below = 0;
  for (const [le, cum] of buckets) {
    if (cum >= q * total) {
      if (le === Infinity) return lower;
      return lower + ((le - lower) * (q * total - below)) / Math.max(1, cum - below);
    }
    [lower, below] = [le, cum];
  }
  return lower;
}

interface ServerFigures {
  status: Record<string, number>;
  decisions: Record<string, number>;
  evaluateMs: { mean: number | null; p50: number | null; p90: number | null; p99: number | null };
  batches: number;
  /** Mean ms per pipeline batch, by stage. */
  stagesMs: Record<string, number>;
  cpuCores: number;
  eventLoopLagP99Ms: number;
  /** Garbage collection in the engine: total ms, pauses, pauses over 10 ms. */
  gc: { ms: number; pauses: number; over10ms: number };
}

function serverFigures(d: Scrape, after: Scrape, wallSeconds: number): ServerFigures {
  const ms = (s: number | null) => (s === null ? null : s * 1000);
  const count = d.get('riskstream_evaluate_seconds_count') ?? 0;
  const sums = byLabel(d, 'riskstream_stage_seconds_sum', 'stage');
  const counts = byLabel(d, 'riskstream_stage_seconds_count', 'stage');
  const stagesMs: Record<string, number> = {};
  for (const [stage, n] of Object.entries(counts))
    if (n > 0) stagesMs[stage] = ((sums[stage] ?? 0) / n) * 1000;
  return {
    status: byLabel(d, 'riskstream_evaluate_requests_total', 'status'),
    decisions: byLabel(d, 'riskstream_decisions_total', 'decision'),
    evaluateMs: {
      mean: count > 0 ? ((d.get('riskstream_evaluate_seconds_sum') ?? 0) / count) * 1000 : null,
      p50: ms(histQuantile(d, 'riskstream_evaluate_seconds', 0.5)),
      p90: ms(histQuantile(d, 'riskstream_evaluate_seconds', 0.9)),
      p99: ms(histQuantile(d, 'riskstream_evaluate_seconds', 0.99)),
    },
    batches: counts.decode ?? 0,
    stagesMs,
    cpuCores: endingWith(d, 'process_cpu_seconds_total') / wallSeconds,
    // prom-client samples with a 10 ms timer and reports the intervals: 10 ms is no delay.
    eventLoopLagP99Ms: Math.max(0, endingWith(after, 'nodejs_eventloop_lag_p99_seconds') * 1000 - 10),
    gc: {
      ms: endingWith(d, 'nodejs_gc_duration_seconds_sum') * 1000,
      pauses: endingWith(d, 'nodejs_gc_duration_seconds_count'),
      over10ms:
        endingWith(d, 'nodejs_gc_duration_seconds_count') -
        endingWith(d, 'nodejs_gc_duration_seconds_bucket', 'le="0.01"'),
    },
  };
}

/**
 * Redis's own account (the whole server: other clients' commands count too): CPU of its main
 * thread, and per command calls and µs (commands run inside Lua scripts are counted twice: on
 * their own and within their EVALSHA).
 */
interface RedisStats {
  cpuSeconds: number;
  commands: Map<string, { calls: number; usec: number }>;
}

async function redisStats(redis: Redis): Promise<RedisStats> {
  const [cpu, commandStats] = await Promise.all([redis.info('cpu'), redis.info('commandstats')]);
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  const commands: RedisStats['commands'] = new Map();
  for (const m of commandStats.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm))
    commands.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return { cpuSeconds: seconds('used_cpu_user_main_thread') + seconds('used_cpu_sys_main_thread'), commands };
}

interface RedisFigures {
  /** CPU of Redis's main thread, in cores. */
  cpuCores: number;
  /** The commands that took most time: calls per second and µs per call. */
  top: { command: string; perSecond: number; usPerCall: number }[];
}

function redisFigures(a: RedisStats, b: RedisStats, wallSeconds: number): RedisFigures {
  const d = [...b.commands].map(([command, s]) => ({
    command,
    calls: s.calls - (a.commands.get(command)?.calls ?? 0),
    usec: s.usec - (a.commands.get(command)?.usec ?? 0),
  }));
  return {
    cpuCores: (b.cpuSeconds - a.cpuSeconds) / wallSeconds,
    top: d
      .filter((c) => c.calls > 0)
      .sort((x, y) => y.usec - x.usec)
      .slice(0, 3)
      .map((c) => ({ command: c.command, perSecond: c.calls / wallSeconds, usPerCall: c.usec / c.calls })),
  };
}

// ---------------------------------------------------------------------------------------------
// the orchestrator
// ---------------------------------------------------------------------------------------------

interface Options {
  rate: number;
  seconds: number;
  warmup: number;
  connections: number;
  pacer: 'autocannon' | 'uniform';
  sessions: number;
  attackRate: number;
  foreign: number;
  seed: number;
  publish: boolean;
  build: boolean;
  brokers: string;
  redis: string;
  json?: string;
  profile?: string;
}

function number(min: number, integer: boolean) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(`expected ${integer ? 'an integer' : 'a number'} >= ${min}`);
    return n;
  };
}

function parseOptions(argv: string[]): Options {
  return new Command('npm run bench:evaluate --')
    .description('latency of POST /v1/evaluate at a fixed rate, next to GET /healthz on the same engine')
    .option('--rate <n>', 'offered requests per second', number(1, true), 1000)
    .option('--seconds <s>', 'measured seconds per phase', number(1, false), 30)
    .option('--warmup <s>', 'warm-up seconds per phase (not counted)', number(0, false), 5)
    .option('--connections <n>', 'HTTP connections of the load process', number(1, true), 20)
    .option(
      '--pacer <kind>',
      'autocannon (overallRate) or uniform (open loop, evenly spaced)',
      (v) => {
        if (v !== 'autocannon' && v !== 'uniform') throw new InvalidArgumentError('autocannon or uniform');
        return v;
      },
      'autocannon',
    )
    .option('--sessions <n>', 'simulated sessions', number(1, true), 3000)
    .option('--attack-rate <x>', 'share of simulated sessions that are attacks', number(0, false), 0.05)
    .option('--foreign <x>', "share of requests sent with another session's client", number(0, false), 0.005)
    .option('--seed <n>', 'simulator seed', number(0, true), 7)
    .option('--no-publish', 'http.evaluatePublish=false: answer without producing to Kafka')
    .option('--no-build', 'do not rebuild a stale dist/')
    .option('--brokers <list>', 'Kafka brokers', process.env.RISK_STREAM_TEST_KAFKA ?? '127.0.0.1:19092')
    .option('--redis <url>', 'Redis URL', process.env.RISK_STREAM_TEST_REDIS ?? 'redis://127.0.0.1:6379')
    .option('--json <file>', 'also write the figures as JSON')
    .option('--profile <dir>', "write the engine's CPU profile (node --cpu-prof) into this directory")
    .parse(argv)
    .opts<Options>();
}

/** Runs the build when a source file is newer than what dist/ holds for it. */
function ensureBuilt(): void {
  const stale = (dir: string): boolean =>
    fs.readdirSync(dir, { withFileTypes: true }).some((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return stale(p);
      if (!e.name.endsWith('.ts')) return false;
      const out = path.join(ROOT, 'dist', path.relative(ROOT, p).replace(/\.ts$/, '.js'));
      return !fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(p).mtimeMs;
    });
  if (!stale(path.join(ROOT, 'src'))) return;
  console.log('dist/ is older than src/: npm run build');
  const tsc = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  // tsc emits despite type errors (e.g. in a file someone is still editing); a broken engine fails /readyz.
  if (tsc.status !== 0) console.warn(`warning: the build reported errors (exit ${tsc.status}); going on`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Run in reverse on exit, failure and Ctrl-C alike; each runs once. */
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | null = null;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.splice(0).reverse())
      await c().catch((err: unknown) => console.warn(`cleanup: ${String(err)}`));
  })();
  return cleaning;
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

interface Names {
  id: string;
  topics: { actions: string; decisions: string; dlq: string; shadow: string };
  prefix: string;
  token: string;
}

const tail = (file: string) => fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');

/** `node bin/risk-stream.js run` as a child process, configured through RISK_STREAM_* variables. */
async function startEngine(opts: Options, names: Names) {
  const port = await freePort();
  const log = path.join(os.tmpdir(), `${names.id}.log`);
  const fd = fs.openSync(log, 'w');
  const profile = opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opts.profile)}`] : [];
  const engine = spawn(process.execPath, [...profile, path.join(ROOT, 'bin', 'risk-stream.js'), 'run'], {
    cwd: ROOT,
    stdio: ['ignore', fd, fd],
    env: {
      ...process.env,
      RISK_STREAM_KAFKA_BROKERS: opts.brokers,
      RISK_STREAM_KAFKA_GROUP_ID: names.id,
      RISK_STREAM_KAFKA_ACTIONS_TOPIC: names.topics.actions,
      RISK_STREAM_KAFKA_DECISIONS_TOPIC: names.topics.decisions,
      RISK_STREAM_KAFKA_DEAD_LETTER_TOPIC: names.topics.dlq,
      RISK_STREAM_KAFKA_SHADOW_TOPIC: names.topics.shadow,
      RISK_STREAM_REDIS_URL: opts.redis,
      RISK_STREAM_REDIS_KEY_PREFIX: names.prefix,
      RISK_STREAM_HTTP_HOST: '127.0.0.1',
      RISK_STREAM_HTTP_PORT: String(port),
      RISK_STREAM_HTTP_TOKENS: names.token,
      RISK_STREAM_HTTP_EVALUATE_PUBLISH: String(opts.publish),
      RISK_STREAM_LOG_LEVEL: process.env.RISK_STREAM_LOG_LEVEL ?? 'warn',
    },
  });
  fs.closeSync(fd);
  cleanups.push(() => stopChild(engine, 35_000));
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 120_000;
  for (;;) {
    if (engine.exitCode !== null) throw new Error(`the engine exited (${engine.exitCode}):\n${tail(log)}`);
    if (Date.now() > until) throw new Error(`the engine was not ready within 120 s:\n${tail(log)}`);
    if (
      await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await sleep(250);
  }
  const info = (await (await fetch(`${base}/healthz`)).json()) as Record<string, unknown>;
  return { base, log, info };
}

/** Busy and total CPU ticks of the whole machine (other work on it shows here too). */
function machineTicks(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times: t } of os.cpus()) {
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

const busyShare = (a: { busy: number; total: number }, b: { busy: number; total: number }) =>
  (b.busy - a.busy) / Math.max(1, b.total - a.total);

interface Phase {
  name: 'healthz' | 'evaluate';
  load: LoadResult;
  server: ServerFigures;
  redis: RedisFigures;
  /** Share of all the machine's cores busy. */
  machineBusy: number;
}

/** One load process: warm-up, then the measured run between two scrapes of the engine's metrics. */
async function runPhase(name: Phase['name'], spec: LoadSpec, redis: Redis): Promise<Phase> {
  const child = fork(__filename, ['--load-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(() => stopChild(child, 2000));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the load process exited (${code}) during ${name}`))),
  );
  exited.catch(() => undefined);
  const message = <T extends FromChild['type']>(type: T) =>
    Promise.race([
      exited,
      new Promise<Extract<FromChild, { type: T }>>((resolve) => {
        const on = (m: FromChild) => {
          if (m.type !== type) return;
          child.off('message', on);
          resolve(m as Extract<FromChild, { type: T }>);
        };
        child.on('message', on);
      }),
    ]);
  console.log(`${name}: ${spec.warmup} s warm-up, ${spec.seconds} s measured`);
  child.send({ type: 'run', spec } satisfies ToChild);
  await message('warm');
  const [before, stats0] = await Promise.all([scrape(spec.base), redisStats(redis)]);
  const ticks0 = machineTicks();
  const t0 = performance.now();
  child.send({ type: 'go' } satisfies ToChild);
  const { result } = await message('result');
  const wall = (performance.now() - t0) / 1000;
  const ticks1 = machineTicks();
  const [after, stats1] = await Promise.all([scrape(spec.base), redisStats(redis)]);
  return {
    name,
    load: result,
    server: serverFigures(diff(before, after), after, wall),
    redis: redisFigures(stats0, stats1, wall),
    machineBusy: busyShare(ticks0, ticks1),
  };
}

function pct(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function summary(p: Phase, rate: number) {
  const l = p.load.latencies;
  return {
    offered: rate,
    achieved: p.load.responses / p.load.seconds,
    p50: pct(l, 0.5),
    p90: pct(l, 0.9),
    p99: pct(l, 0.99),
    p999: pct(l, 0.999),
    max: l.at(-1) ?? NaN,
    non2xx: Object.values(p.load.non2xx).reduce((s, n) => s + n, 0),
    errors: p.load.errors,
  };
}

const f = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
const pc = (share: number) => `${(100 * share).toFixed(0)}%`;

function mixText(mix: Record<string, number>): string {
  const total = Object.values(mix).reduce((s, n) => s + n, 0);
  if (total === 0) return '(none counted)';
  const order = [
    ...DECISIONS,
    ...Object.keys(mix).filter((k) => !(DECISIONS as readonly string[]).includes(k)),
  ];
  return order
    .filter((d) => (mix[d] ?? 0) > 0)
    .map((d) => `${d} ${mix[d]} (${((100 * (mix[d] ?? 0)) / total).toFixed(1)}%)`)
    .join(', ');
}

function report(opts: Options, info: Record<string, unknown>, busyBefore: number, phases: Phase[]) {
  const out = (line = '') => console.log(line);
  const cpus = os.cpus();
  const overrides = Object.keys(process.env).filter((k) => k.startsWith('RISK_STREAM_'));
  out();
  out(
    `machine: ${cpus.length} x ${cpus[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
      `${os.platform()} ${os.release()}, Node ${process.version}; Kafka and Redis on it too; ` +
      `${pc(busyBefore)} busy before the run`,
  );
  out(
    `engine: node bin/risk-stream.js run, model ${String(info.model)} on ${String(info.backend)}, ` +
      `http.evaluatePublish=${opts.publish}${overrides.length > 0 ? `, env ${overrides.join(' ')}` : ''}`,
  );
  out(
    `load process: ${
      opts.pacer === 'autocannon'
        ? `autocannon, ${opts.connections} connections, overallRate ${opts.rate}/s`
        : `uniform open loop, one request every ${f(1000 / opts.rate, 3)} ms, up to ${opts.connections} connections`
    }; ${opts.warmup} s warm-up, ${opts.seconds} s measured`,
  );
  const ev = phases.find((p) => p.name === 'evaluate')!;
  const t = ev.load.traffic;
  out(
    `traffic: ${t.sessions} sessions; requests from a client other than the session's first: ` +
      `${f(100 * t.drift, 1)}% (${f(100 * t.foreign, 1)}% injected from another session), ` +
      `${f(100 * t.attacker, 1)}% from simulated attacks`,
  );
  out();
  out('                    offered  achieved      p50      p90      p99    p99.9      max  non-2xx  errors');
  out('                      req/s     req/s       ms       ms       ms       ms       ms');
  for (const p of phases) {
    const s = summary(p, opts.rate);
    const label = p.name === 'evaluate' ? 'POST /v1/evaluate' : 'GET /healthz';
    const ms = [s.p50, s.p90, s.p99, s.p999, s.max].map((v) => f(v).padStart(8)).join(' ');
    out(
      `${label.padEnd(17)} ${String(s.offered).padStart(9)} ${f(s.achieved, 1).padStart(9)} ${ms} ` +
        `${String(s.non2xx).padStart(8)} ${String(s.errors).padStart(7)}`,
    );
  }
  const p99 = summary(ev, opts.rate).p99;
  out();
  out(`p99 < ${BUDGET_MS} ms at ${opts.rate} req/s: ${p99 < BUDGET_MS ? 'MET' : 'NOT MET'} (${f(p99)} ms)`);
  out();
  const sv = ev.server;
  out('engine (its /metrics, measured window of POST /v1/evaluate):');
  out(
    `  riskstream_evaluate_requests_total: ${Object.entries(sv.status)
      .map(([k, v]) => `${k} x ${v}`)
      .join(', ')}`,
  );
  out(`  riskstream_decisions_total: ${mixText(sv.decisions)}`);
  out(`  decisions in the response bodies: ${mixText(ev.load.mix)}`);
  const e = sv.evaluateMs;
  out(
    `  riskstream_evaluate_seconds: mean ${f(e.mean)} ms, p50 ~${f(e.p50)}, p90 ~${f(e.p90)}, p99 ~${f(e.p99)} ms` +
      ' (interpolated in its buckets)',
  );
  const decided = Number(sv.status['200'] ?? 0);
  out(`  pipeline batches: ${sv.batches}, ${f(decided / Math.max(1, sv.batches), 1)} requests per batch`);
  out(
    `  per batch, mean ms: ${Object.entries(sv.stagesMs)
      .map(([k, v]) => `${k} ${f(v, 2)}`)
      .join(', ')}`,
  );
  out();
  out('CPU (cores) and Redis, per phase:');
  for (const p of phases) {
    const top = p.redis.top.map((c) => `${c.command} ${f(c.perSecond, 0)}/s x ${f(c.usPerCall, 0)} µs`);
    out(
      `  ${p.name.padEnd(8)}  engine ${f(p.server.cpuCores)}, load process ${f(p.load.cpuCores)}, ` +
        `machine ${pc(p.machineBusy)} of ${cpus.length}; engine event-loop delay p99 ${f(p.server.eventLoopLagP99Ms)} ms, ` +
        `GC ${f(p.server.gc.ms, 0)} ms in ${p.server.gc.pauses} pauses (${p.server.gc.over10ms} over 10 ms)`,
    );
    out(`            Redis ${f(p.redis.cpuCores)} (its main thread); ${top.join(', ') || '-'}`);
  }
  out();
  for (const p of phases) {
    const a = p.load.per10ms;
    out(
      `responses per 10 ms window, ${p.name.padEnd(8)}: median ${a.p50}, p99 ${a.p99}, max ${a.max}` +
        ` (a steady ${opts.rate} req/s is ${opts.rate / 100})`,
    );
  }
  return {
    at: new Date().toISOString(),
    machine: { cpus: cpus.length, model: cpus[0]?.model, node: process.version, busyBefore },
    options: opts,
    engine: { ...info, environment: overrides },
    budgetMs: BUDGET_MS,
    p99Met: p99 < BUDGET_MS,
    phases: phases.map((p) => ({
      name: p.name,
      ...summary(p, opts.rate),
      non2xxByStatus: p.load.non2xx,
      responsesPer10ms: p.load.per10ms,
      decisionsInBodies: p.load.mix,
      traffic: p.load.traffic,
      loadCpuCores: p.load.cpuCores,
      server: p.server,
      redis: p.redis,
      machineBusy: p.machineBusy,
    })),
  };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv);
  if (opts.build) ensureBuilt();
  const id = uniqueName('rs-bench-eval');
  const names: Names = {
    id,
    topics: {
      actions: `${id}-actions`,
      decisions: `${id}-decisions`,
      dlq: `${id}-dlq`,
      shadow: `${id}-shadow`,
    },
    prefix: `${id}:`,
    token: randomUUID(),
  };
  const topics = Object.values(names.topics);
  const kafka = new Kafka({
    clientId: 'bench-evaluate',
    brokers: opts.brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  cleanups.push(() => admin.disconnect());
  const redis = new Redis(opts.redis, { maxRetriesPerRequest: 2 });
  cleanups.push(async () => redis.disconnect());
  // Registered before they exist (an interrupted start-up removes what it got to); they run after
  // the engine has stopped, the keys first: they do not depend on the broker answering.
  cleanups.push(() =>
    withTimeout(
      Promise.all([admin.deleteTopics({ topics }), admin.deleteGroups([names.id]).catch(() => undefined)]),
      30_000,
      'deleting the topics',
    ),
  );
  cleanups.push(() => deleteKeys(redis, names.prefix));
  await createTopics(admin, topics, 3);

  // Others' work on a shared machine skews the figures: say how busy it was before we began.
  const ticks = machineTicks();
  await sleep(2000);
  const busyBefore = busyShare(ticks, machineTicks());
  const { base, log, info } = await startEngine(opts, names);
  console.log(`engine ready on ${base}; topics ${id}-*, Redis keys ${names.prefix}*, log ${log}`);
  const spec = (evaluate: boolean): LoadSpec => ({ ...opts, base, token: names.token, evaluate });
  const phases = [
    await runPhase('healthz', spec(false), redis),
    await runPhase('evaluate', spec(true), redis),
  ];
  const figures = report(opts, info, busyBefore, phases);
  if (opts.json) {
    fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
    fs.writeFileSync(opts.json, JSON.stringify(figures, null, 2) + '\n');
    console.log(`\nfigures written to ${opts.json}`);
  }
  fs.rmSync(log, { force: true });
}

if (process.argv[2] === '--load-child') {
  loadChild().catch((err: unknown) => {
    console.error('load process:', err);
    process.exit(1);
  });
} else {
  let signalled = false;
  const interrupted = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    console.error(`\n${signal}: stopping the engine, deleting the topics and keys`);
    void cleanUp().finally(() => process.exit(130));
  };
  // `on`, not `once`: a second signal (Ctrl-C reaches tsx and this process both) must not end the clean-up.
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  // kafkajs can reject a promise nobody holds when the broker goes away: clean up all the same.
  process.on('unhandledRejection', (err) => console.warn(`unhandled: ${String(err)}`));
  main()
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    })
    .finally(() => cleanUp());
}
