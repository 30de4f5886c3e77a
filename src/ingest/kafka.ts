import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { RawRecord } from '../contract';
import { RiskStreamError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import type { BatchHandler } from '../pipeline/handler';
import type { BatchResult } from '../pipeline/process';
import type { Logger } from '../log';

export interface KafkaEngineOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  maxBytesPerPartition: number;
  partitionsConsumedConcurrently: number;
  /** Most records in one pipeline batch (records of every assigned partition together). */
  maxBatchRecords: number;
  /**
   * Batches between "handed to the pipeline" and "decisions acknowledged" at once. With 2 or
   * more, the next batch is scored while the previous one's decisions are on their way.
   */
  batchesInFlight: number;
  handler: BatchHandler;
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
  /** Stops fetching, finishes the batches in flight, commits them, leaves the group. */
  stop(): Promise<void>;
}

/** Records of one partition, in offset order, as fetched. */
interface Chunk {
  topic: string;
  partition: number;
  records: RawRecord[];
  lastOffset: bigint;
  highWatermark: bigint;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * The streaming engine's consumer loop, pipelined. Fetching, scoring and producing overlap:
 *
 *   eachBatch (kafkajs) -> queue -> pipeline batch (all partitions) -> decisions acked -> commit
 *
 * kafkajs fetches again only once every eachBatch call has returned; eachBatch only queues the
 * records, so the next fetch does not wait for scoring. One pipeline batch takes what is queued,
 * of every partition (one Redis round trip, one model call, one produce request for all of them).
 * Up to `batchesInFlight` batches are in the pipeline at once, begun in order (so the session
 * store applies them in order) and emitted in order (so a session's decisions stay in order on the
 * decisions topic); an input offset is committed only after its decisions are acknowledged.
 *
 * Back-pressure: at most two batches' worth of records wait in the queue; eachBatch waits (and
 * heartbeats) until there is room, so a slow pipeline slows fetching instead of filling memory.
 * A failing batch (Redis down, broker unavailable) is retried with backoff, in place, so nothing
 * after it is committed: nothing is skipped. After a rebalance, records this engine has already
 * begun are not begun twice (kafkajs fetches again from the last committed offset).
 */
export async function startKafkaEngine(opts: KafkaEngineOptions): Promise<KafkaEngine> {
  const retry = opts.retry ?? { initialMs: 200, maxMs: 10_000 };
  const { handler, log, metrics } = opts;
  const consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs,
    maxBytesPerPartition: opts.maxBytesPerPartition,
    allowAutoTopicCreation: false,
    retry: { retries: 10 },
  });
  const maxQueued = 2 * opts.maxBatchRecords;

  let stopping = false;
  let joined = false;
  /** Records fetched, not yet begun. */
  const queue: Chunk[] = [];
  let queued = 0;
  /** Highest offset begun per partition of the current assignment: never begun twice. */
  const begun = new Map<string, bigint>();
  /** Offsets acknowledged and waiting to be committed, per partition. */
  const toCommit = new Map<string, { topic: string; partition: number; offset: bigint; lag: bigint }>();
  let inFlight = 0;
  /** Set when a batch was given up (only on stop): nothing after it may be committed. */
  let gaveUp = false;

  // Wake-ups: the loop waits for records (or a free slot), eachBatch waits for room.
  let wakeLoop: (() => void) | undefined;
  const roomWaiters = new Set<() => void>();
  const signalLoop = () => {
    wakeLoop?.();
    wakeLoop = undefined;
  };
  const signalRoom = () => {
    for (const w of roomWaiters) w();
    roomWaiters.clear();
  };

  async function waitForRoom(payload: EachBatchPayload): Promise<boolean> {
    const heartbeatEvery = Math.max(100, Math.floor(opts.sessionTimeoutMs / 6));
    while (queued >= maxQueued) {
      if (stopping || !payload.isRunning() || payload.isStale()) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, heartbeatEvery);
        function done() {
          clearTimeout(timer);
          roomWaiters.delete(done);
          resolve();
        }
        roomWaiters.add(done);
      });
      try {
        await payload.heartbeat();
      } catch {
        return false; // rebalancing: the records are fetched again after the join
      }
    }
    return !stopping && payload.isRunning() && !payload.isStale();
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const key = tp(batch.topic, batch.partition);
    const highWatermark = BigInt(batch.highWatermark);
    let messages = batch.messages;
    // After a rebalance that left this partition here, kafkajs fetches from the committed offset
    // again: what was begun already is on its way (skip it).
    const done = begun.get(key);
    if (done !== undefined) {
      const first = messages.findIndex((m) => BigInt(m.offset) > done);
      if (first !== 0) {
        const skipped = first < 0 ? messages : messages.slice(0, first);
        if (skipped.length > 0) payload.resolveOffset(skipped[skipped.length - 1]!.offset);
        messages = first < 0 ? [] : messages.slice(first);
      }
    }
    for (let i = 0; i < messages.length; i += opts.maxBatchRecords) {
      if (!(await waitForRoom(payload))) return;
      const slice = messages.slice(i, i + opts.maxBatchRecords);
      const records: RawRecord[] = slice.map((m) => ({
        value: m.value,
        key: m.key,
        source: batch.topic,
        partition: batch.partition,
        offset: m.offset,
        line: null,
        receivedAt: Number(m.timestamp) || Date.now(),
      }));
      const last = slice[slice.length - 1]!.offset;
      queue.push({
        topic: batch.topic,
        partition: batch.partition,
        records,
        lastOffset: BigInt(last),
        highWatermark,
      });
      queued += records.length;
      // The next fetch of this partition starts after these records (nothing is committed here).
      payload.resolveOffset(last);
      signalLoop();
    }
    await payload.heartbeat().catch(() => undefined);
  }

  /** Takes queued chunks, oldest first, up to maxBatchRecords records (at least one chunk). */
  function take(): Chunk[] {
    const out: Chunk[] = [];
    let n = 0;
    while (queue.length > 0 && (out.length === 0 || n + queue[0]!.records.length <= opts.maxBatchRecords)) {
      const c = queue.shift()!;
      out.push(c);
      n += c.records.length;
    }
    queued -= n;
    signalRoom();
    return out;
  }

  function failed(err: unknown, attempt: number, records: number, delay: number): void {
    const code = err instanceof RiskStreamError ? err.code : 'UNEXPECTED';
    metrics?.batchErrors.inc({ code });
    if (code === 'STORE_UNAVAILABLE' || code === 'STORE_SCRIPT') metrics?.redisErrors.inc();
    opts.onHealth?.(false, `${code}: ${(err as Error).message}`);
    log.warn(
      { err: (err as Error).message, code, attempt, records, retryInMs: delay },
      'batch failed; retrying (offsets not committed)',
    );
  }

  /**
   * Waits for a begun batch, emits its output (retrying either step with backoff) and marks its
   * offsets for commit. Returns false when the engine stopped before the batch got through.
   */
  async function complete(chunks: Chunk[], records: RawRecord[], processing: Promise<BatchResult>) {
    if (gaveUp) return false;
    let delay = retry.initialMs;
    let result: BatchResult | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        result ??= await processing;
        await handler.emit(records, result);
        if (attempt > 1) opts.onHealth?.(true, 'batch succeeded after retry');
        break;
      } catch (err) {
        failed(err, attempt, records.length, delay);
        if (stopping) {
          gaveUp = true;
          return false;
        }
        await sleep(delay);
        delay = Math.min(retry.maxMs, delay * 2);
        // Scoring again is safe: events the store already applied return their first view. (A
        // batch begun after this one may have reached the store first; the window keeps events
        // in time order whatever order they arrive in.)
        if (!result) processing = handler.process(records);
      }
    }
    for (const c of chunks) {
      const key = tp(c.topic, c.partition);
      const offset = c.lastOffset + 1n;
      if (offset > (toCommit.get(key)?.offset ?? -1n))
        toCommit.set(key, { topic: c.topic, partition: c.partition, offset, lag: c.highWatermark - offset });
    }
    void commit();
    return true;
  }

  // Commits run one at a time; what piles up meanwhile goes in the next request.
  let committing: Promise<void> | undefined;
  function commit(): Promise<void> {
    committing ??= (async () => {
      try {
        while (toCommit.size > 0) {
          const offsets = [...toCommit.values()];
          toCommit.clear();
          try {
            await consumer.commitOffsets(
              offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString() })),
            );
            for (const o of offsets)
              metrics?.consumerLag.set(
                { topic: o.topic, partition: String(o.partition) },
                Math.max(0, Number(o.lag)),
              );
          } catch (err) {
            // Rebalancing, or the coordinator moved: keep the offsets for the next attempt.
            for (const o of offsets) {
              const key = tp(o.topic, o.partition);
              if (!toCommit.has(key) && begun.has(key)) toCommit.set(key, o);
            }
            log.warn({ err: (err as Error).message }, 'offset commit failed; will retry');
            return;
          }
        }
      } finally {
        committing = undefined;
      }
    })();
    return committing;
  }

  /** Begins batches in order while there is a free slot; each completes in order after the one before. */
  let tail: Promise<unknown> = Promise.resolve();
  const loop = (async () => {
    for (;;) {
      while (!stopping && (queue.length === 0 || inFlight >= opts.batchesInFlight))
        await new Promise<void>((resolve) => (wakeLoop = resolve));
      if (stopping) break;
      // Let every partition of the same fetch queue its records, so they go in one batch.
      await nextTurn();
      const chunks = take();
      if (chunks.length === 0) continue;
      const records = chunks.length === 1 ? chunks[0]!.records : chunks.flatMap((c) => c.records);
      for (const c of chunks) begun.set(tp(c.topic, c.partition), c.lastOffset);
      inFlight++;
      const processing = handler.process(records);
      processing.catch(() => undefined); // handled in complete(), in order
      const previous = tail;
      tail = (async () => {
        await previous;
        try {
          await complete(chunks, records, processing);
        } finally {
          inFlight--;
          signalLoop();
        }
      })();
    }
    await tail;
  })();

  // Listeners go on before run(): the first join can happen before run() resolves.
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    const assigned = new Set(
      Object.entries(e.payload.memberAssignment).flatMap(([topic, parts]) => parts.map((p) => tp(topic, p))),
    );
    // Queued records are fetched again from the committed offsets; begun ones stay begun, but only
    // for partitions that stayed here.
    queue.splice(0).forEach((c) => (queued -= c.records.length));
    signalRoom();
    for (const key of [...begun.keys()]) if (!assigned.has(key)) begun.delete(key);
    for (const key of [...toCommit.keys()]) if (!assigned.has(key)) toCommit.delete(key);
    log.info(
      { memberId: e.payload.memberId, assignment: e.payload.memberAssignment },
      'joined consumer group',
    );
  });
  consumer.on(consumer.events.CRASH, (e) => {
    joined = false;
    opts.onHealth?.(false, `consumer crashed: ${e.payload.error.message}`);
    log.error({ error: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed');
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
    eachBatch,
  });

  return {
    consumer,
    joined: () => joined,
    async stop() {
      if (stopping) return;
      // Stop fetching; what is queued but not begun is dropped (not committed: the next owner
      // fetches it again); batches in flight finish, then their offsets are committed.
      try {
        consumer.pause([{ topic: opts.topic }]);
      } catch {
        // not running (crashed, or never joined): nothing to pause
      }
      stopping = true;
      queue.splice(0);
      queued = 0;
      signalRoom();
      signalLoop();
      await loop;
      await committing;
      await commit();
      await consumer.disconnect();
    },
  };
}
