import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { RawRecord } from '../contract';
import { RiskStreamError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import type { BatchHandler } from '../pipeline/handler';
import type { Logger } from '../log';

export interface KafkaEngineOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  maxBytesPerPartition: number;
  partitionsConsumedConcurrently: number;
  /** Records handed to the pipeline at once: bounds memory and the work redone after a crash. */
  chunkSize: number;
  handle: BatchHandler;
  metrics?: Metrics;
  log: Logger;
  /** Called when the engine becomes unable (false) or able again (true) to make progress. */
  onHealth?: (healthy: boolean, why: string) => void;
  retry?: { initialMs: number; maxMs: number };
}

export interface KafkaEngine {
  consumer: Consumer;
  /** True once the consumer has joined its group (and until it crashes or stops). */
  joined(): boolean;
  /** Finishes the chunk in flight, commits, leaves the group. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The streaming engine's consumer loop: eachBatch, in chunks; per chunk the pipeline runs, the
 * decisions are acknowledged by the broker, and only then is the offset committed. A failing chunk
 * (Redis down, broker unavailable) is retried with backoff while the consumer keeps heartbeating,
 * so consumption pauses instead of buffering: nothing is skipped, nothing piles up in memory.
 */
export async function startKafkaEngine(opts: KafkaEngineOptions): Promise<KafkaEngine> {
  const retry = opts.retry ?? { initialMs: 200, maxMs: 10_000 };
  const consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs,
    maxBytesPerPartition: opts.maxBytesPerPartition,
    allowAutoTopicCreation: false,
    retry: { retries: 10 },
  });
  let stopping = false;

  async function handleWithRetry(records: RawRecord[], payload: EachBatchPayload): Promise<boolean> {
    let delay = retry.initialMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.handle(records);
        if (attempt > 1) opts.onHealth?.(true, 'batch succeeded after retry');
        return true;
      } catch (err) {
        const code = err instanceof RiskStreamError ? err.code : 'UNEXPECTED';
        opts.metrics?.batchErrors.inc({ code });
        if (code === 'STORE_UNAVAILABLE' || code === 'STORE_SCRIPT') opts.metrics?.redisErrors.inc();
        opts.onHealth?.(false, `${code}: ${(err as Error).message}`);
        opts.log.warn(
          {
            err: (err as Error).message,
            code,
            attempt,
            partition: payload.batch.partition,
            retryInMs: delay,
          },
          'batch failed; retrying (offsets not committed)',
        );
        if (stopping || !payload.isRunning() || payload.isStale()) return false;
        await sleep(delay);
        delay = Math.min(retry.maxMs, delay * 2);
        try {
          await payload.heartbeat();
        } catch {
          // A rebalance took the partition away: stop; the new owner redoes the chunk.
          return false;
        }
      }
    }
  }

  // Listeners go on before run(): the first join can happen before run() resolves.
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    opts.log.info(
      { memberId: e.payload.memberId, assignment: e.payload.memberAssignment },
      'joined consumer group',
    );
  });
  consumer.on(consumer.events.CRASH, (e) => {
    joined = false;
    opts.onHealth?.(false, `consumer crashed: ${e.payload.error.message}`);
    opts.log.error({ error: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed');
  });
  consumer.on(consumer.events.STOP, () => {
    joined = false;
  });

  await consumer.connect();
  await consumer.subscribe({ topic: opts.topic, fromBeginning: opts.fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently,
    eachBatch: async (payload) => {
      const { batch } = payload;
      const messages = batch.messages;
      for (let i = 0; i < messages.length; i += opts.chunkSize) {
        if (stopping || !payload.isRunning() || payload.isStale()) return;
        const slice = messages.slice(i, i + opts.chunkSize);
        const records: RawRecord[] = slice.map((m) => ({
          value: m.value,
          key: m.key,
          source: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          line: null,
          receivedAt: Number(m.timestamp) || Date.now(),
        }));
        if (!(await handleWithRetry(records, payload))) return;
        const last = slice[slice.length - 1]!.offset;
        payload.resolveOffset(last);
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
        opts.metrics?.consumerLag.set(
          { topic: batch.topic, partition: String(batch.partition) },
          Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n)),
        );
        await payload.heartbeat();
      }
    },
  });

  return {
    consumer,
    joined: () => joined,
    async stop() {
      stopping = true;
      await consumer.disconnect();
    },
  };
}
