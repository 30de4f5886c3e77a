/**
 * Soak run on a real Kafka broker and a real Redis: the engine (`risk-stream run`, a child process,
 * every decision written) under a steady load for a long time, with latency and memory sampled over
 * time, to show there is no growth trend and no latency drift.
 *
 *   1. maximum: a backlog of simulated actions is put on the input topic and the engine drains it as
 *      fast as it can; its throughput over the drain is the measured maximum (`--max` skips this);
 *   2. soak: live simulated traffic (wall-clock stamps, sessions starting and ending) at
 *      `--fraction` of that maximum (or `--rate`) for `--duration`; every window (`--window`) prints
 *      the rates in and out, event-to-decision latency percentiles (send -> decision seen by a
 *      consumer, every event measured), the engine's RSS and heap (its /metrics), Redis memory and
 *      the consumer lag.
 *
 *   npm run soak [-- --duration 10m --fraction 0.5 --window 30s]     (scripts/bench.sh runs it)
 *
 * At the end: the trend of heap, RSS and p99 over the soak after the first window (least-squares
 * slope, and the change it adds up to over the soak), written with every window to
 * bench-results/soak-latest.json. Asserts nothing: it reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { parseDuration } from '../src/config/schema';
import type { SessionAction } from '../src/contract';
import { decodeDecision, encodeAction } from '../src/emit/encode';
import { liveTraffic, simulate } from '../src/sim/generate';
import { createTopics, deleteKeys, freePort, uniqueName } from '../test/helpers/services';

const ROOT = path.resolve(__dirname, '..');

interface Options {
  duration: number;
  window: number;
  fraction: number;
  rate?: number;
  max?: number;
  backlog: number;
  partitions: number;
  brokers: string[];
  redis: string;
  out: string;
}

function options(): Options {
  const ms = (v: string) => {
    const n = parseDuration(v);
    if (n === undefined || n <= 0) throw new InvalidArgumentError('expected a duration like 30s or 10m');
    return n;
  };
  const positive = (v: string) => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError('expected a number > 0');
    return n;
  };
  const o = new Command('soak')
    .option('--duration <d>', 'how long the steady load lasts', ms, 600_000)
    .option('--window <d>', 'sampling window', ms, 30_000)
    .option('--fraction <f>', 'share of the measured maximum to send', positive, 0.5)
    .option('--rate <n>', 'events per second to send (instead of --fraction of the maximum)', positive)
    .option('--max <n>', 'take this as the maximum (events/s) instead of measuring it', positive)
    .option('--backlog <n>', 'actions drained to measure the maximum', positive, 60_000)
    .option('--partitions <n>', 'input topic partitions', positive, 3)
    .parse(process.argv)
    .opts<Omit<Options, 'brokers' | 'redis' | 'out'>>();
  return {
    ...o,
    brokers: (process.env.RISK_STREAM_BENCH_KAFKA ?? '127.0.0.1:19092').split(','),
    redis: process.env.RISK_STREAM_BENCH_REDIS ?? 'redis://127.0.0.1:6379',
    out: path.join(ROOT, 'bench-results', 'soak-latest.json'),
  };
}

/** The value of a Prometheus sample line `name{...} value` (first match; labels ignored). */
function sample(text: string, name: string, labels = ''): number | null {
  const re = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : '(?:\\{[^}]*\\})?'} ([0-9.eE+-]+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

/** Seconds the engine spent in garbage collection so far (every kind). */
function gcSeconds(text: string): number {
  let total = 0;
  for (const m of text.matchAll(
    /^riskstream_process_nodejs_gc_duration_seconds_sum\{[^}]*\} ([0-9.eE+-]+)$/gm,
  ))
    total += Number(m[1]);
  return total;
}

const pct = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

interface Window {
  t_s: number;
  sent_per_s: number;
  decided_per_s: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  rss_mb: number;
  heap_mb: number;
  /** Lowest heap sampled in the window. */
  heap_floor_mb: number;
  redis_mb: number;
  lag: number;
  /** Engine time in garbage collection per second of the window (all kinds), ms. */
  gc_ms_per_s: number;
  /** This load generator's own heap (its pauses show up in the measured latency), MB. */
  generator_heap_mb: number;
}

async function main(): Promise<void> {
  const o = options();
  const kafka = new Kafka({ clientId: 'risk-stream-soak', brokers: o.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topics = {
    actions: uniqueName('soak-actions'),
    decisions: uniqueName('soak-decisions'),
    dlq: uniqueName('soak-dlq'),
    audit: uniqueName('soak-audit'),
  };
  const prefix = `${uniqueName('rs-soak')}:`;
  const redis = new Redis(o.redis);
  await createTopics(admin, [topics.actions], o.partitions);
  await createTopics(admin, [topics.decisions, topics.dlq, topics.audit], 3);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();

  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  let engine: ChildProcess | undefined;
  let engineErr = '';
  const cleanup = async () => {
    if (engine && engine.exitCode === null) {
      engine.kill('SIGTERM');
      await new Promise((r) => engine!.once('exit', r));
    }
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await deleteKeys(redis, prefix).catch(() => undefined);
    redis.disconnect();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    // Phase 1: the backlog, on the topic before the engine starts.
    const sim = simulate({ seed: 3, sessions: Math.ceil(o.backlog / 33), start: Date.now() - 3 * 3_600_000 });
    const backlog = sim.events.slice(0, o.backlog);
    for (let i = 0; i < backlog.length; i += 1000) {
      await producer.send({
        topic: topics.actions,
        messages: backlog
          .slice(i, i + 1000)
          .map((a) => ({ key: a.session_id, value: encodeAction(a, 'avro') })),
      });
    }

    engine = spawn(process.execPath, [path.join(ROOT, 'bin/risk-stream.js'), 'run', '--port', String(port)], {
      cwd: ROOT,
      env: {
        // Settings from the environment reach the engine (e.g. RISK_STREAM_REDIS_DEDUPE_TTL=2m); the
        // engine refuses RISK_STREAM_* variables that are not settings (RISK_STREAM_BENCH_*, _TEST_*).
        ...Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !/^RISK_STREAM_(BENCH|TEST)_/.test(k)),
        ),
        RISK_STREAM_KAFKA_BROKERS: o.brokers.join(','),
        RISK_STREAM_KAFKA_ACTIONS_TOPIC: topics.actions,
        RISK_STREAM_KAFKA_DECISIONS_TOPIC: topics.decisions,
        RISK_STREAM_KAFKA_DEAD_LETTER_TOPIC: topics.dlq,
        RISK_STREAM_KAFKA_AUDIT_TOPIC: topics.audit,
        RISK_STREAM_KAFKA_GROUP_ID: uniqueName('soak-engine'),
        RISK_STREAM_KAFKA_FROM_BEGINNING: 'true',
        RISK_STREAM_KAFKA_EMIT_ALLOW: 'true',
        RISK_STREAM_REDIS_URL: o.redis,
        RISK_STREAM_REDIS_KEY_PREFIX: prefix,
        RISK_STREAM_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    engine.stderr!.on('data', (c: Buffer) => (engineErr = (engineErr + c.toString()).slice(-20_000)));
    const scrape = async () => (await fetch(metricsUrl)).text();
    const events = async () => sample(await scrape(), 'riskstream_events_total', 'source="kafka"') ?? 0;

    let max = o.max;
    const startedAt = Date.now();
    for (;;) {
      await sleep(250);
      if (engine.exitCode !== null) throw new Error(`the engine exited (${engine.exitCode}):\n${engineErr}`);
      if (
        await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (Date.now() - startedAt > 90_000) throw new Error(`the engine never became ready:\n${engineErr}`);
    }
    if (max === undefined) {
      // Drain throughput from the first to the last moment the counter moved (start-up excluded).
      let first: { t: number; n: number } | null = null;
      let last = { t: Date.now(), n: 0 };
      while (last.n < backlog.length) {
        await sleep(200);
        const n = await events();
        const t = Date.now();
        if (n > 0 && first === null) first = { t, n };
        if (n !== last.n) last = { t, n };
        if (t - last.t > 30_000) throw new Error(`the drain stalled at ${last.n} of ${backlog.length}`);
      }
      max = ((last.n - first!.n) * 1000) / Math.max(1, last.t - first!.t);
      console.log(`soak: maximum ${Math.round(max)} events/s (drained ${backlog.length} actions)`);
      const settings = Object.keys(process.env).filter((k) => /^RISK_STREAM_(?!BENCH_|TEST_)/.test(k));
      if (settings.length > 0)
        console.log(
          `soak: engine settings from the environment: ${settings.map((k) => `${k}=${process.env[k]}`).join(' ')}`,
        );
    }
    const rate = o.rate ?? max * o.fraction;
    console.log(
      `soak: ${Math.round(rate)} events/s for ${o.duration / 1000} s (${o.rate ? 'given' : `${o.fraction} of the maximum`}), windows of ${o.window / 1000} s`,
    );

    // Phase 2: the collector sees every decision; latency = seen - sent, by event id.
    const sentAt = new Map<string, number>();
    let latencies: number[] = [];
    let decidedInWindow = 0;
    const collector = kafka.consumer({ groupId: uniqueName('soak-collector'), maxWaitTimeInMs: 20 });
    await collector.connect();
    await collector.subscribe({ topic: topics.decisions, fromBeginning: true });
    await collector.run({
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        for (const m of batch.messages) {
          if (!m.value) continue;
          const d = decodeDecision(m.value);
          const t = sentAt.get(d.event_id);
          if (t === undefined) continue; // the backlog's
          sentAt.delete(d.event_id);
          latencies.push(now - t);
          decidedInWindow++;
        }
      },
    });

    const traffic = liveTraffic({ seed: 11, rate, attackRate: 0.1 });
    let stop = false;
    let sentInWindow = 0;
    const producing = (async () => {
      let buffer: SessionAction[] = [];
      let flushAt = Date.now() + 20;
      for await (const { event } of traffic) {
        if (stop) break;
        buffer.push(event);
        if (Date.now() >= flushAt) {
          const batch = buffer;
          buffer = [];
          flushAt = Date.now() + 20;
          const now = Date.now();
          for (const a of batch) sentAt.set(a.event_id, now);
          sentInWindow += batch.length;
          await producer.send({
            topic: topics.actions,
            messages: batch.map((a) => ({ key: a.session_id, value: encodeAction(a, 'avro') })),
          });
        }
      }
    })();

    const windows: Window[] = [];
    const t0 = Date.now();
    console.log(
      '  t(s)   sent/s  decided/s   p50 ms   p95 ms   p99 ms   max ms   rss MB  heap MB floor MB  redis MB     lag  gc ms/s  gen MB',
    );
    // The heap between two windows, sampled every 2 s: its lowest value (just after a collection)
    // follows what the engine keeps; a single sample mostly shows where the GC sawtooth was.
    let heapFloor = Infinity;
    let gcBefore = gcSeconds(await scrape());
    const sampling = setInterval(() => {
      scrape()
        .then((text) => {
          const heap = sample(text, 'riskstream_process_nodejs_heap_size_used_bytes');
          if (heap !== null) heapFloor = Math.min(heapFloor, heap / 1e6);
        })
        .catch(() => undefined);
    }, 2000);
    while (Date.now() - t0 < o.duration) {
      await sleep(o.window - ((Date.now() - t0) % o.window));
      const text = await scrape();
      const info = await redis.info('memory');
      const sorted = latencies.sort((a, b) => a - b);
      const w: Window = {
        t_s: Math.round((Date.now() - t0) / 1000),
        sent_per_s: Math.round((sentInWindow * 1000) / o.window),
        decided_per_s: Math.round((decidedInWindow * 1000) / o.window),
        p50_ms: pct(sorted, 50),
        p95_ms: pct(sorted, 95),
        p99_ms: pct(sorted, 99),
        max_ms: sorted[sorted.length - 1] ?? NaN,
        rss_mb: (sample(text, 'riskstream_process_process_resident_memory_bytes') ?? NaN) / 1e6,
        heap_mb: (sample(text, 'riskstream_process_nodejs_heap_size_used_bytes') ?? NaN) / 1e6,
        heap_floor_mb: heapFloor,
        redis_mb: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN) / 1e6,
        lag: sentAt.size,
        gc_ms_per_s: ((gcSeconds(text) - gcBefore) * 1e6) / o.window,
        generator_heap_mb: process.memoryUsage().heapUsed / 1e6,
      };
      windows.push(w);
      heapFloor = Infinity;
      gcBefore = gcSeconds(text);
      latencies = [];
      sentInWindow = 0;
      decidedInWindow = 0;
      const f = (v: number, width: number, digits = 0) => v.toFixed(digits).padStart(width);
      console.log(
        `${f(w.t_s, 6)} ${f(w.sent_per_s, 8)} ${f(w.decided_per_s, 10)} ${f(w.p50_ms, 8, 1)} ${f(w.p95_ms, 8, 1)} ${f(w.p99_ms, 8, 1)} ${f(w.max_ms, 8)} ${f(w.rss_mb, 8, 1)} ${f(w.heap_mb, 8, 1)} ${f(w.heap_floor_mb, 8, 1)} ${f(w.redis_mb, 9, 1)} ${f(w.lag, 7)} ${f(w.gc_ms_per_s, 8, 1)} ${f(w.generator_heap_mb, 7, 1)}`,
      );
    }
    clearInterval(sampling);
    stop = true;
    await traffic.return?.(undefined);
    await producing;
    await sleep(2000);
    await collector.disconnect();

    // Trends after the first window (warm-up), and over the second half alone (bounded caches and
    // TTLs have filled by then): change per 10 minutes.
    const steady = windows.slice(1);
    const late = windows.slice(Math.floor(windows.length / 2));
    const per10 = (ws: Window[], key: keyof Window) =>
      slope(
        ws.map((w) => w.t_s / 60),
        ws.map((w) => w[key]),
      ) * 10;
    const trend = (key: keyof Window) => {
      const values = steady.map((w) => w[key]);
      const mean = (vs: number[]) => vs.reduce((a, b) => a + b, 0) / Math.max(1, vs.length);
      return {
        mean: mean(values),
        first: values[0],
        last: values[values.length - 1],
        per_10_min: per10(steady, key),
        second_half_mean: mean(late.map((w) => w[key])),
        second_half_per_10_min: per10(late, key),
      };
    };
    const result = {
      when: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        mem_gb: os.totalmem() / 2 ** 30,
        node: process.version,
      },
      max_events_per_s: Math.round(max),
      rate,
      duration_s: o.duration / 1000,
      window_s: o.window / 1000,
      unanswered_at_end: sentAt.size,
      windows,
      trends: {
        heap_mb: trend('heap_mb'),
        heap_floor_mb: trend('heap_floor_mb'),
        rss_mb: trend('rss_mb'),
        p50_ms: trend('p50_ms'),
        p99_ms: trend('p99_ms'),
        redis_mb: trend('redis_mb'),
        gc_ms_per_s: trend('gc_ms_per_s'),
        generator_heap_mb: trend('generator_heap_mb'),
      },
    };
    fs.mkdirSync(path.dirname(o.out), { recursive: true });
    fs.writeFileSync(o.out, JSON.stringify(result, null, 2));
    const t = result.trends;
    const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}`;
    const line = (name: string, x: ReturnType<typeof trend>, unit: string) =>
      `  ${name.padEnd(10)} mean ${x.mean.toFixed(1)} ${unit}, trend ${signed(x.per_10_min)} ${unit} per 10 min;` +
      ` second half: mean ${x.second_half_mean.toFixed(1)} ${unit}, trend ${signed(x.second_half_per_10_min)} ${unit} per 10 min`;
    console.log('soak: trends after the first window (least-squares slope)');
    console.log(line('heap', t.heap_mb, 'MB'));
    console.log(line('heap low', t.heap_floor_mb, 'MB'));
    console.log(line('rss', t.rss_mb, 'MB'));
    console.log(line('p50', t.p50_ms, 'ms'));
    console.log(line('p99', t.p99_ms, 'ms'));
    console.log(line('redis', t.redis_mb, 'MB'));
    console.log(line('gc', t.gc_ms_per_s, 'ms/s'));
    console.log(line('generator', t.generator_heap_mb, 'MB'));
    console.log(
      `soak: events sent and not decided at the end: ${sentAt.size}; results in ${path.relative(ROOT, o.out)}`,
    );
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`soak: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
