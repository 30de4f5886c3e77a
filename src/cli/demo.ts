import { createWriteStream } from 'node:fs';
import type { Decision, DecisionType } from '../contract';
import type { Settings } from '../config/schema';
import { encodeAction } from '../emit/encode';
import { MemorySink } from '../emit/files';
import type { FastifyInstance } from 'fastify';
import { registerInvestigationRoutes } from '../http/investigate';
import { resolveHttpSecurity } from '../http/security';
import { buildServer } from '../http/server';
import { registerUi } from '../http/ui';
import { InProcessTopic } from '../ingest/inprocess';
import type { Logger } from '../log';
import { createMetrics } from '../metrics/metrics';
import { createBatchHandler } from '../pipeline/handler';
import { liveTraffic, simulate } from '../sim/generate';
import { buildMemoryStore, buildModel, buildPipeline } from './context';

export interface DemoOptions {
  /** Stop after this many ms; run until Ctrl-C when absent. */
  durationMs?: number;
  rate: number;
  attackRate: number;
  seed: number;
  /** Sessions of simulated history processed before live traffic starts (0: none). */
  backlogSessions: number;
  /** Print the live view (a redrawn screen on a terminal, a line per second otherwise). */
  view: boolean;
  /** Also write the evidence records here (JSON Lines), for `evidence export --from`. */
  evidenceFile?: string;
  out: NodeJS.WriteStream;
}

interface Totals {
  events: number;
  deadLetters: number;
  decisions: Record<DecisionType, number>;
}

/**
 * `npm start`: the whole engine with nothing to install. The simulator produces Avro-encoded
 * actions into an in-process topic, and the same pipeline as `run` (decode, session windows,
 * features, batched model, policy) decides on them, with the in-memory session store.
 */
export async function runDemo(settings: Settings, log: Logger, opts: DemoOptions): Promise<Totals> {
  const metrics = createMetrics();
  const scorer = await buildModel(settings, log, metrics);
  const store = buildMemoryStore(settings);
  const topic = new InProcessTopic(settings.kafka.actionsTopic, 20_000);
  const sink = new MemorySink(200);
  const totals: Totals = {
    events: 0,
    deadLetters: 0,
    decisions: { ALLOW: 0, STEP_UP: 0, BLOCK_ACTION: 0, TERMINATE: 0 },
  };
  const recent: Decision[] = [];
  const evidenceOut = opts.evidenceFile ? createWriteStream(opts.evidenceFile, { encoding: 'utf8' }) : null;
  const handler = createBatchHandler({
    process: buildPipeline({
      settings,
      store,
      model: () => scorer,
      format: 'avro',
      allowJson: false,
      metrics,
    }),
    sink,
    emitAllow: false,
    metrics,
    source: 'in-process',
    onResult: (r) => {
      if (evidenceOut && r.evidence && r.evidence.length > 0) {
        evidenceOut.write(r.evidence.map((e) => JSON.stringify(e) + '\n').join(''));
      }
      totals.events += r.outcomes.length;
      totals.deadLetters += r.deadLetters.length;
      for (const d of r.decisions) {
        totals.decisions[d.decision]++;
        if (d.decision !== 'ALLOW') recent.push(d);
      }
      if (recent.length > 8) recent.splice(0, recent.length - 8);
    },
  });

  const server = buildServer({
    registry: metrics.registry,
    readiness: [
      { name: 'store', check: () => store.ping() },
      { name: 'model', check: () => scorer.version.length > 0 },
    ],
    info: () => ({ mode: 'demo', model: scorer.version, backend: scorer.backend }),
    onReady: (ready) => metrics.ready.set(ready ? 1 : 0),
    metrics,
    routes: [
      (app: FastifyInstance) => {
        const security = resolveHttpSecurity(settings.http);
        registerInvestigationRoutes(app, {
          store,
          analystTokens: security.analystTokens,
          adminTokens: security.adminTokens,
          open: security.analystOpen,
          metrics,
          log,
        });
        registerUi(app);
      },
    ],
  });
  if (settings.http.enabled) {
    await server.listen({ host: settings.http.host, port: settings.http.port });
  }
  const address = settings.http.enabled
    ? `http://${settings.http.host}:${settings.http.port}`
    : '(http disabled)';

  let stopping = false;
  const stop = () => {
    stopping = true;
    topic.close();
  };
  const onSignal = () => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = opts.durationMs === undefined ? undefined : setTimeout(stop, opts.durationMs);

  const traffic = liveTraffic({ seed: opts.seed, rate: opts.rate, attackRate: opts.attackRate });
  const producing = (async () => {
    // First a backlog: the last two hours of simulated sessions, as a consumer that starts late sees
    // them, so detections show at once; then live traffic at the configured rate.
    const now = Date.now();
    const history = simulate({
      seed: opts.seed + 1,
      sessions: opts.backlogSessions,
      attackRate: opts.attackRate,
      start: now - 2 * 3_600_000,
      spanMs: 3_600_000,
    }).events.filter((e) => e.ts <= now);
    for (const event of history) {
      if (stopping) return;
      await topic.produce(encodeAction(event, 'avro'), Buffer.from(event.session_id));
    }
    for await (const { event } of traffic) {
      if (stopping) break;
      await topic.produce(encodeAction(event, 'avro'), Buffer.from(event.session_id));
    }
  })();

  const started = Date.now();
  let lastEvents = 0;
  let lastTick = started;
  const tick = setInterval(() => {
    if (!opts.view) return;
    const now = Date.now();
    const rate = ((totals.events - lastEvents) * 1000) / Math.max(1, now - lastTick);
    lastEvents = totals.events;
    lastTick = now;
    opts.out.write(
      renderView({
        totals,
        recent,
        rate,
        elapsedS: (now - started) / 1000,
        address,
        scorer,
        tty: opts.out.isTTY,
      }),
    );
  }, 1000);

  while (!(stopping && topic.depth === 0)) {
    const batch = await topic.poll(1000, 50);
    if (batch.length > 0) await handler.handle(batch);
  }
  await traffic.return?.(undefined);
  await producing.catch(() => undefined);
  clearInterval(tick);
  if (timer) clearTimeout(timer);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  await server.close();
  await store.close();
  if (evidenceOut) await new Promise<void>((resolve) => evidenceOut.end(resolve));
  scorer.dispose();
  if (opts.view) opts.out.write(renderSummary(totals, (Date.now() - started) / 1000));
  return totals;
}

function renderView(v: {
  totals: Totals;
  recent: Decision[];
  rate: number;
  elapsedS: number;
  address: string;
  scorer: { version: string; backend: string };
  tty: boolean;
}): string {
  const d = v.totals.decisions;
  const head =
    `risk-stream demo  ${v.elapsedS.toFixed(0)}s  ${v.rate.toFixed(0)} events/s  events ${v.totals.events}  ` +
    `ALLOW ${d.ALLOW}  STEP_UP ${d.STEP_UP}  BLOCK_ACTION ${d.BLOCK_ACTION}  TERMINATE ${d.TERMINATE}  dead letters ${v.totals.deadLetters}`;
  if (!v.tty) return head + '\n';
  const lines = [
    '\x1b[2J\x1b[H' + head,
    `model ${v.scorer.version} on ${v.scorer.backend}   metrics ${v.address}/metrics   Ctrl-C to stop`,
    '',
    'latest non-ALLOW decisions:',
    ...v.recent
      .slice()
      .reverse()
      .map(
        (x) =>
          `  ${new Date(x.decided_at).toISOString().slice(11, 19)} ${x.decision.padEnd(12)} score ${x.score.toFixed(2)} ` +
          `${x.app}/${x.session_id.slice(0, 12)}  ${x.reasons.map((r) => `${r.code}(${r.weight.toFixed(2)})`).join(' ')}`,
      ),
  ];
  return lines.join('\n') + '\n';
}

function renderSummary(t: Totals, seconds: number): string {
  const d = t.decisions;
  return (
    `\ndemo finished after ${seconds.toFixed(1)}s: ${t.events} events (${(t.events / Math.max(seconds, 1e-9)).toFixed(0)}/s), ` +
    `ALLOW ${d.ALLOW}, STEP_UP ${d.STEP_UP}, BLOCK_ACTION ${d.BLOCK_ACTION}, TERMINATE ${d.TERMINATE}, dead letters ${t.deadLetters}\n`
  );
}
