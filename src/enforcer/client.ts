import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type LogEntry } from 'kafkajs';
import type { Decision } from '../contract';
import { decodeDecision } from '../emit/encode';
import { RiskStreamError } from '../errors';
import {
  SessionEnforcement,
  type ApplyOutcome,
  type CheckResult,
  type EnforcementOptions,
  type EnforcementStats,
} from './state';

/** The few logger methods the client uses (a pino logger fits). */
export interface EnforcerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface EnforcerClientOptions extends Omit<EnforcementOptions, 'now'> {
  /** Bootstrap brokers. Needed unless `kafka` is given. */
  brokers?: string[];
  /** A configured kafkajs client (TLS, SASL, ...) instead of `brokers` and `clientId`. */
  kafka?: Kafka;
  /** @default 'decisions' */
  topic?: string;
  /**
   * A group of its own per instance, so every instance sees every decision. Nothing is committed:
   * where to read from is decided at start (see `fromBeginning`) and kept across rebalances.
   * @default `risk-stream-enforcer-<host>-<pid>-<random>`
   */
  groupId?: string;
  /** @default 'risk-stream-enforcer' */
  clientId?: string;
  /**
   * Start from the decisions of the last `replayWindowMs` (found with the broker's time index), so a
   * restarted instance rebuilds its state; false: only decisions made from now on. @default true
   */
  fromBeginning?: boolean;
  /** How far back the replay starts. @default the longest TTL (terminateTtlMs) */
  replayWindowMs?: number;
  /** Fetch long-poll wait: bounds how long stop() waits for an idle fetch. @default 500 ms */
  maxWaitTimeMs?: number;
  /** start() fails when the consumer has not joined within this. @default 30 s */
  startTimeoutMs?: number;
  logger?: EnforcerLogger;
  /** Called after each decision is applied (errors it throws are logged, never propagate). */
  onDecision?: (decision: Decision, outcome: ApplyOutcome) => void;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

export interface EnforcerClientStats extends EnforcementStats {
  /** Records read from the topic. */
  received: number;
  /** Records that were not a Decision (or had no value): counted and skipped. */
  undecodable: number;
  /** Whether the decisions present at start have all been read. */
  replayed: boolean;
}

const RECENT_DECISIONS = 1000;
const PRUNE_EVERY_MS = 60_000;

interface Waiter {
  predicate: (d: Decision) => boolean;
  resolve: (d: Decision) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Subscribes to the decisions topic and keeps a SessionEnforcement up to date, so `check` answers
 * from memory in microseconds. Decisions that cannot be decoded are counted and skipped.
 *
 * ```ts
 * const enforcer = new EnforcerClient({ brokers: ['kafka:9092'] });
 * await enforcer.start();           // consuming; replay of the last 12 h under way
 * await enforcer.replayed(10_000);  // optional: wait until the state is rebuilt
 * const r = enforcer.check(sessionId, 'export');
 * if (!r.allow) deny(r.status, r.decision, r.reasons);
 * ```
 */
export class EnforcerClient {
  /** The state this client feeds; `apply` decisions learned elsewhere (an inline evaluation) here. */
  readonly state: SessionEnforcement;
  readonly topic: string;
  readonly groupId: string;
  private readonly opts: EnforcerClientOptions;
  private readonly now: () => number;
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private running = false;
  private received = 0;
  private undecodable = 0;
  /** Next offset to read per partition: where to seek after a rebalance (nothing is committed). */
  private readonly next = new Map<number, string>();
  /** Partitions still behind the end offset they had at start. */
  private readonly behind = new Map<number, bigint>();
  private replayDone = false;
  private replayResolve: (() => void) | undefined;
  private readonly replayPromise: Promise<void>;
  private readonly recent: Decision[] = [];
  private readonly waiters = new Set<Waiter>();

  constructor(opts: EnforcerClientOptions) {
    if (!opts.kafka && (!opts.brokers || opts.brokers.length === 0)) {
      throw new RangeError('EnforcerClient needs brokers or a kafka client');
    }
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.state = new SessionEnforcement({ ...opts, now: this.now });
    this.topic = opts.topic ?? 'decisions';
    this.groupId =
      opts.groupId ?? `risk-stream-enforcer-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.kafka =
      opts.kafka ??
      new Kafka({
        clientId: opts.clientId ?? 'risk-stream-enforcer',
        brokers: opts.brokers ?? [],
        logLevel: opts.logger ? logLevel.WARN : logLevel.NOTHING,
        logCreator: () => (entry: LogEntry) => this.kafkaLog(entry),
      });
    this.replayPromise = new Promise((resolve) => (this.replayResolve = resolve));
  }

  /**
   * Connects, finds where to start, joins its group and resolves once partitions are assigned and
   * fetching begins. The replay of earlier decisions continues in the background (`replayed`).
   * Rejects with a RiskStreamError `KAFKA_UNAVAILABLE` (e.g. the topic does not exist).
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.begin();
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw new RiskStreamError(
        'KAFKA_UNAVAILABLE',
        `EnforcerClient cannot consume ${this.topic}: ${(err as Error).message}`,
        { retriable: true, cause: err },
      );
    }
  }

  private async begin(): Promise<void> {
    const startedAt = this.now();
    const admin = this.kafka.admin();
    this.admin = admin;
    await admin.connect();
    let starts: { partition: number; offset: string }[];
    let ends: { partition: number; offset: string }[];
    try {
      ends = await admin.fetchTopicOffsets(this.topic);
      starts =
        this.opts.fromBeginning === false
          ? ends
          : await admin.fetchTopicOffsetsByTimestamp(
              this.topic,
              startedAt - (this.opts.replayWindowMs ?? this.state.replayWindowMs),
            );
    } finally {
      this.admin = undefined;
      await admin.disconnect();
    }
    for (const { partition, offset } of starts) this.next.set(partition, offset);
    for (const { partition, offset } of ends) {
      const start = BigInt(this.next.get(partition) ?? offset);
      if (start < BigInt(offset)) this.behind.set(partition, BigInt(offset));
    }
    this.checkReplayed();

    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: this.opts.maxWaitTimeMs ?? 500,
    });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`EnforcerClient: no partitions of ${this.topic} assigned in time`)),
        this.opts.startTimeoutMs ?? 30_000,
      );
      timer.unref();
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        // Emitted before fetching starts: position every assigned partition where this instance
        // left off (or at the replay start), since nothing is committed.
        for (const p of e.payload.memberAssignment[this.topic] ?? []) {
          const offset = this.next.get(p);
          if (offset !== undefined) consumer.seek({ topic: this.topic, partition: p, offset });
        }
        clearTimeout(timer);
        resolve();
      });
      consumer.on(consumer.events.CRASH, (e) => {
        this.opts.logger?.error(
          { err: e.payload.error.message, topic: this.topic },
          'decision consumer crashed',
        );
        if (!e.payload.restart) {
          clearTimeout(timer);
          reject(e.payload.error);
        }
      });
    });
    joined.catch(() => undefined); // observed below; a crash after start is only logged
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatch: (p) => this.eachBatch(p) });
    await joined;
    this.pruneTimer = setInterval(() => this.state.prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    this.opts.logger?.info(
      { topic: this.topic, groupId: this.groupId, partitions: this.next.size, replaying: this.behind.size },
      'enforcer consuming decisions',
    );
  }

  /**
   * Resolves true once the decisions that were on the topic at start (within the replay window)
   * have been applied, false if that takes longer than `timeoutMs`.
   */
  async replayed(timeoutMs = 30_000): Promise<boolean> {
    if (this.replayDone) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const done = await Promise.race([this.replayPromise.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  }

  /** Whether `action` may go ahead in the session now (see SessionEnforcement.check). */
  check(sessionId: string, action: string): CheckResult {
    return this.state.check(sessionId, action);
  }

  /** Feeds a decision learned another way (an inline evaluation) into the same state. */
  apply(decision: Decision): ApplyOutcome {
    return this.state.apply(decision);
  }

  /**
   * Resolves with the first decision read from the topic that matches, looking at the last 1000
   * read before the call too; rejects after `timeoutMs`. For tests and start-up probes.
   */
  waitFor(predicate: (d: Decision) => boolean, timeoutMs = 10_000): Promise<Decision> {
    const seen = this.recent.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`EnforcerClient.waitFor: no matching decision within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  stats(): EnforcerClientStats {
    return {
      ...this.state.stats(),
      received: this.received,
      undecodable: this.undecodable,
      replayed: this.replayDone,
    };
  }

  /** Leaves the group and disconnects. Pending waitFor calls reject. */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.pruneTimer);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('EnforcerClient stopped'));
    }
    this.waiters.clear();
    await this.admin?.disconnect().catch(() => undefined);
    await this.consumer?.disconnect();
    this.consumer = undefined;
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) {
    const partition = batch.partition;
    for (const m of batch.messages) {
      if (!isRunning() || isStale()) break;
      this.received++;
      let decision: Decision | undefined;
      try {
        if (!m.value) throw new Error('no value');
        decision = decodeDecision(m.value);
      } catch (err) {
        this.undecodable++;
        // Every record of a garbage burst would log otherwise.
        if (this.undecodable <= 10 || this.undecodable % 1000 === 0) {
          this.opts.logger?.warn(
            { partition, offset: m.offset, undecodable: this.undecodable, err: (err as Error).message },
            'skipping a record that is not a Decision',
          );
        }
      }
      if (decision) this.handle(decision);
      resolveOffset(m.offset);
      const next = BigInt(m.offset) + 1n;
      this.next.set(partition, next.toString());
      const end = this.behind.get(partition);
      if (end !== undefined && next >= end) {
        this.behind.delete(partition);
        this.checkReplayed();
      }
    }
    await heartbeat();
  }

  private handle(d: Decision): void {
    const outcome = this.state.apply(d);
    try {
      this.opts.onDecision?.(d, outcome);
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message }, 'onDecision threw');
    }
    this.recent.push(d);
    if (this.recent.length > RECENT_DECISIONS) this.recent.shift();
    for (const w of this.waiters) {
      let hit = false;
      try {
        hit = w.predicate(d);
      } catch {
        // a throwing predicate is a non-match, never a stalled partition
      }
      if (hit) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve(d);
      }
    }
  }

  private checkReplayed(): void {
    if (this.replayDone || this.behind.size > 0) return;
    this.replayDone = true;
    this.replayResolve?.();
  }

  private kafkaLog({ level, log }: LogEntry): void {
    const logger = this.opts.logger;
    if (!logger) return;
    const { message, ...extra } = log;
    if (level <= logLevel.ERROR) logger.error({ ...extra, kafkajs: true }, message);
    else if (level === logLevel.WARN) logger.warn({ ...extra, kafkajs: true }, message);
  }
}
