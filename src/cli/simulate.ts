import { Partitioners } from 'kafkajs';
import type { Settings } from '../config/schema';
import { encodeAction } from '../emit/encode';
import type { Logger } from '../log';
import { liveTraffic, simulate } from '../sim/generate';
import type { ScenarioMix } from '../sim/types';
import { writeJsonl, writeLabels } from '../sim/write';
import { createKafka } from './run';

export interface SimulateOptions {
  sessions: number;
  seed: number;
  attackRate: number;
  /** Scenario weights (default: DEFAULT_MIX). */
  mix?: ScenarioMix;
  out?: string;
  labels?: string;
  /** Start time of the simulated traffic (epoch ms). */
  start: number;
  spanMs: number;
  toKafka: boolean;
  rate: number;
  /** With --to-kafka: stop after this many events (default: run until Ctrl-C). */
  limit?: number;
  format: 'avro' | 'confluent' | 'json';
}

/** `risk-stream simulate`: labelled traffic to JSON Lines files, or live to the actions topic. */
export async function runSimulate(
  settings: Settings,
  log: Logger,
  opts: SimulateOptions,
): Promise<{ events: number }> {
  if (!opts.toKafka) {
    const { events, labels } = simulate({
      seed: opts.seed,
      sessions: opts.sessions,
      attackRate: opts.attackRate,
      ...(opts.mix ? { mix: opts.mix } : {}),
      start: opts.start,
      spanMs: opts.spanMs,
    });
    await writeJsonl(opts.out ?? 'events.jsonl', events);
    if (opts.labels) await writeLabels(opts.labels, labels);
    return { events: events.length };
  }

  const kafka = createKafka(settings, log);
  const producer = kafka.producer({
    allowAutoTopicCreation: true,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  let sent = 0;
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const traffic = liveTraffic({
    seed: opts.seed,
    rate: opts.rate,
    attackRate: opts.attackRate,
    ...(opts.mix ? { mix: opts.mix } : {}),
  });
  let pending: { key: string; value: Buffer }[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    await producer.send({ topic: settings.kafka.actionsTopic, messages: pending, acks: -1 });
    sent += pending.length;
    pending = [];
  };
  let lastFlush = Date.now();
  for await (const { event } of traffic) {
    pending.push({ key: event.session_id, value: encodeAction(event, opts.format, 1) });
    if (pending.length >= 500 || Date.now() - lastFlush > 100) {
      await flush();
      lastFlush = Date.now();
    }
    if (stop || (opts.limit !== undefined && sent + pending.length >= opts.limit)) break;
  }
  await flush();
  await traffic.return?.(undefined);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  await producer.disconnect();
  log.info({ sent, topic: settings.kafka.actionsTopic }, 'simulated traffic sent');
  return { events: sent };
}
