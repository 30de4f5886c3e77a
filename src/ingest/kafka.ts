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
  /**
   * Called when the engine becomes unable (false) or able again (true) to make progress; `code` is
   * the failing batch's error code (STORE_* for the session store).
   */
  onHealth?: (healthy: boolean, why: string, code?: string) => void;
  retry?: { initialMs: number; maxMs: number };
  /**
   * Polled while a failed batch waits for its next attempt (after at least retry.initialMs): true
   * ends the wait, e.g. once the session store answers again or the pipeline decides without it.
   */
  retryNow?: (code: string) => boolean;
  /** No successful request to the brokers for this long: `inContact()` is false. @default 6000 */
  contactTimeoutMs?: number;
}

export interface KafkaEngine {
  consumer: Consumer;
  /** True once the consumer has joined its group (and until it crashes or stops). */
  joined(): boolean;
  /** False when no request to the brokers has succeeded for contactTimeoutMs (a broker down or unreachable). */
  inContact(): boolean;
  /** Records fetched and waiting for the pipeline (at most two batches' worth). */
  queued(): number;
  /** True while fetching is paused because a batch keeps failing. */
  paused(): boolean;
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
  /** Bytes of the records' values and keys. */
  bytes: number;
}

/**
 * Bytes queued at most (an empty queue takes any slice) and taken into one pipeline batch (at
 * least one chunk). Counted in records alone, a flood of 1 MB records held a gigabyte per
 * thousand records fetched.
 */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
const recordBytes = (m: { value: Buffer | null; key: Buffer | null }) =>
  (m.value?.length ?? 0) + (m.key?.length ?? 0);

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
 * after it is committed: nothing is skipped. While it fails, fetching is paused (the group
 * membership is kept by heartbeats): what was fetched and not queued is fetched again on resume.
 * After a rebalance, records this engine has already begun are not begun twice (kafkajs fetches
 * again from the last committed offset).
 */
export async function startKafkaEngine(opts: KafkaEngineOptions): Promise<KafkaEngine> {
  const retry = opts.retry ?? { initialMs: 200, maxMs: 10_000 };
  const { handler, log, metrics } = opts;
  const consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs,
    maxBytesPerPartition: opts.maxBytesPerPartition,
    allowAutoTopicCreation: false,
    // An idle fetch returns within a second: the engine hears from the brokers at least that often
    // (inContact), and a paused consumer heartbeats at that pace.
    maxWaitTimeInMs: 1000,
    // At most 5 s between attempts, so fetching resumes within seconds of a broker coming back,
    // and minutes of attempts before kafkajs gives up: a consumer that crashes and restarts joins
    // as a new member, and the group then waits for the old one's session to time out.
    retry: { retries: 50, maxRetryTime: 5000 },
  });
  const maxQueued = 2 * opts.maxBatchRecords;
  const contactTimeoutMs = opts.contactTimeoutMs ?? 6000;

  let stopping = false;
  let joined = false;
  /** Records fetched, not yet begun. */
  const queue: Chunk[] = [];
  let queued = 0;
  /** Highest offset begun per partition of the current assignment: never begun twice. */
  const begun = new Map<string, bigint>();
  /** Offsets acknowledged and waiting to be committed, per partition. */
  const toCommit = new Map<string, { topic: string; partition: number; offset: bigint; lag: bigint }>();
  /** Partitions with a reported lag: a partition assigned elsewhere after a rebalance is dropped. */
  const lagReported = new Map<string, { topic: string; partition: string }>();
  let inFlight = 0;
  /** Set when a batch was given up (only on stop): nothing after it may be committed. */
  let gaveUp = false;
  /** Fetching paused while a batch fails; when the last failing batch got through after a retry. */
  let paused = false;
  let recoveredAt = 0;
  /** Last successful request to a broker (fetch, heartbeat, join, commit). */
  let lastContact = Date.now();
  const setQueued = (n: number) => {
    queued = n;
    metrics?.consumerQueuedRecords.set(n);
  };

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

  /** Pauses fetching (a batch is failing): nothing more is fetched until it goes through. */
  function pauseFetching(): void {
    if (paused || stopping) return;
    paused = true;
    try {
      consumer.pause([{ topic: opts.topic }]);
    } catch {
      // not running (crashed, restarting): paused again on the next join
    }
    metrics?.consumerPaused.set(1);
    // eachBatch calls waiting for room give up: their records are fetched again on resume.
    signalRoom();
    log.warn({ queued }, 'fetching paused while a batch fails');
  }

  function resumeFetching(): void {
    if (!paused) return;
    paused = false;
    recoveredAt = Date.now();
    metrics?.consumerPaused.set(0);
    if (stopping) return;
    try {
      consumer.resume([{ topic: opts.topic }]);
    } catch {
      // not running: the next join starts unpaused
    }
    log.info('fetching resumed');
  }

  /** Waits until `n` more records fit in the queue (an empty queue takes any slice). */
  async function waitForRoom(payload: EachBatchPayload, n: number, bytes: number): Promise<boolean> {
    const heartbeatEvery = Math.max(100, Math.floor(opts.sessionTimeoutMs / 6));
    if (paused) return false;
    const queuedBytes = () => queue.reduce((sum, c) => sum + c.bytes, 0);
    while (queued > 0 && (queued + n > maxQueued || queuedBytes() + bytes > MAX_QUEUED_BYTES)) {
      if (stopping || paused || !payload.isRunning() || payload.isStale()) return false;
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
    return !stopping && !paused && payload.isRunning() && !payload.isStale();
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
      const slice = messages.slice(i, i + opts.maxBatchRecords);
      const bytes = slice.reduce((sum, m) => sum + recordBytes(m), 0);
      if (!(await waitForRoom(payload, slice.length, bytes))) return;
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
        bytes,
      });
      setQueued(queued + records.length);
      // The next fetch of this partition starts after these records (nothing is committed here).
      payload.resolveOffset(last);
      signalLoop();
    }
    await payload.heartbeat().catch(() => undefined);
  }

  /** Takes queued chunks, oldest first, up to maxBatchRecords and MAX_BATCH_BYTES (at least one chunk). */
  function take(): Chunk[] {
    const out: Chunk[] = [];
    let n = 0;
    let bytes = 0;
    while (
      queue.length > 0 &&
      (out.length === 0 ||
        (n + queue[0]!.records.length <= opts.maxBatchRecords && bytes + queue[0]!.bytes <= MAX_BATCH_BYTES))
    ) {
      const c = queue.shift()!;
      out.push(c);
      n += c.records.length;
      bytes += c.bytes;
    }
    setQueued(queued - n);
    signalRoom();
    return out;
  }

  const codeOf = (err: unknown) => (err instanceof RiskStreamError ? err.code : 'UNEXPECTED');

  function failed(err: unknown, attempt: number, records: number, delay: number): void {
    const code = codeOf(err);
    metrics?.batchErrors.inc({ code });
    if (code === 'STORE_UNAVAILABLE' || code === 'STORE_SCRIPT') metrics?.redisErrors.inc();
    opts.onHealth?.(false, `${code}: ${(err as Error).message}`, code);
    pauseFetching();
    log.warn(
      { err: (err as Error).message, code, attempt, records, retryInMs: delay },
      'batch failed; retrying (offsets not committed)',
    );
  }

  /** Waits `ms` before the next attempt, or less once `retryNow` says so (or the engine stops). */
  async function backoff(ms: number, code: string): Promise<void> {
    const until = Date.now() + ms;
    await sleep(Math.min(ms, retry.initialMs));
    while (!stopping && Date.now() < until && !opts.retryNow?.(code))
      await sleep(Math.min(100, until - Date.now()));
  }

  /**
   * Waits for a begun batch, emits its output (retrying either step with backoff) and marks its
   * offsets for commit. Returns false when the engine stopped before the batch got through.
   */
  async function complete(
    chunks: Chunk[],
    records: RawRecord[],
    processing: Promise<BatchResult>,
    begunAt: number,
  ) {
    if (gaveUp) return false;
    let delay = retry.initialMs;
    let result: BatchResult | undefined;
    let rerun = false;
    for (let attempt = 1; ; attempt++) {
      try {
        result ??= await processing;
        await handler.emit(records, result);
        if (attempt > 1) {
          opts.onHealth?.(true, 'batch succeeded after retry');
          resumeFetching();
        }
        break;
      } catch (err) {
        if (!result && !rerun && begunAt < recoveredAt && !stopping) {
          // Begun while an earlier batch was failing, which has got through since: try again at
          // once, as a first attempt.
          rerun = true;
          processing = handler.process(records);
          attempt = 0;
          continue;
        }
        failed(err, attempt, records.length, delay);
        if (stopping) {
          gaveUp = true;
          return false;
        }
        await backoff(delay, codeOf(err));
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

  // Commits run one at a time; what piles up meanwhile goes in the next request. A failed commit
  // is tried again a second later, so the last offsets are committed even if no batch follows.
  let committing: Promise<void> | undefined;
  let commitRetry: NodeJS.Timeout | undefined;
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
            for (const o of offsets) {
              const labels = { topic: o.topic, partition: String(o.partition) };
              lagReported.set(tp(o.topic, o.partition), labels);
              metrics?.consumerLag.set(labels, Math.max(0, Number(o.lag)));
            }
          } catch (err) {
            // Rebalancing, or the coordinator moved: keep the offsets for the next attempt.
            for (const o of offsets) {
              const key = tp(o.topic, o.partition);
              if (!toCommit.has(key) && begun.has(key)) toCommit.set(key, o);
            }
            log.warn({ err: (err as Error).message }, 'offset commit failed; will retry');
            if (!stopping)
              commitRetry ??= setTimeout(() => {
                commitRetry = undefined;
                void commit();
              }, 1000);
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
      const begunAt = Date.now();
      const processing = handler.process(records);
      processing.catch(() => undefined); // handled in complete(), in order
      const previous = tail;
      tail = (async () => {
        await previous;
        try {
          await complete(chunks, records, processing, begunAt);
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
    queue.splice(0);
    setQueued(0);
    signalRoom();
    // A consumer restarted after a crash starts unpaused.
    if (paused) {
      try {
        consumer.pause([{ topic: opts.topic }]);
      } catch {
        // not running yet
      }
    }
    for (const key of [...begun.keys()]) if (!assigned.has(key)) begun.delete(key);
    for (const key of [...toCommit.keys()]) if (!assigned.has(key)) toCommit.delete(key);
    for (const [key, labels] of lagReported)
      if (!assigned.has(key)) {
        // Another member reports this partition's lag now: a stale series would double it.
        metrics?.consumerLag.remove(labels);
        lagReported.delete(key);
      }
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
  const touch = () => {
    lastContact = Date.now();
  };
  for (const e of [
    consumer.events.REQUEST,
    consumer.events.FETCH,
    consumer.events.HEARTBEAT,
    consumer.events.GROUP_JOIN,
  ])
    consumer.on(e, touch);

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
    inContact: () => Date.now() - lastContact <= contactTimeoutMs,
    queued: () => queued,
    paused: () => paused,
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
      setQueued(0);
      signalRoom();
      signalLoop();
      await loop;
      clearTimeout(commitRetry);
      commitRetry = undefined;
      await committing;
      await commit();
      await consumer.disconnect();
    },
  };
}
