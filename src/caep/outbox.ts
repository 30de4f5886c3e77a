import type { ChainableCommander, Redis } from 'ioredis';
import { RiskStreamError } from '../errors';
import type { CaepKeys } from '../state/keys';
import { caepKeys, checkKeyPrefix } from '../state/keys';
import { registerScripts } from '../state/scripts';
import type { SetClaims } from './set';
import type { CaepEventName } from './settings';

/**
 * The durable CAEP outbox: SETs waiting for delivery, the jtis already delivered (for
 * caep.deliveredTtl) and the dead set. In Redis for the engine (shared by every instance, atomic
 * through the caepEnqueue/caepClaim/caepSettle scripts in src/state/lua) and in memory for the demo.
 *
 * Delivery is claimed with a lease: claiming moves each due SET's due time to the end of the lease,
 * so no other instance pushes it meanwhile, and a crashed claimer's SETs become due again when the
 * lease ends. Settling checks the lease is still the caller's.
 */

/** One SET waiting for delivery to one receiver. */
export interface OutboxRecord {
  jti: string;
  event: CaepEventName;
  /** The receiver, by its audience (its url and authorization are looked up at push time). */
  audience: string;
  /** Unsigned: the SET is signed at each push, with the key the transmitter has then. */
  claims: SetClaims;
  /** Pushes made so far. */
  attempts: number;
  /** Epoch ms. */
  enqueuedAt: number;
  lastError?: string;
}

/** Why a SET went to the dead set. */
export type DeadReason =
  /** The receiver answered 400 with an RFC 8935 error: it will never accept this SET. */
  | 'rejected'
  /** caep.maxAttempts pushes failed. */
  | 'exhausted'
  /** No receiver with this audience is configured any more. */
  | 'unconfigured';

/** A SET given up on, kept with why. */
export interface DeadRecord extends OutboxRecord {
  reason: DeadReason;
  /** The receiver's `err` (rejected) or the last failure. */
  err: string;
  description: string;
  /** Epoch ms. */
  deadAt: number;
}

/** SETs claimed together, sharing one lease. */
export interface Claim {
  /** The lease end (epoch ms, on the outbox's clock); passed back when settling. */
  lease: number;
  records: OutboxRecord[];
}

/** Where SETs wait: Redis for the engine, memory for the demo. Same semantics. */
export interface CaepOutbox {
  /** Stores each record whose jti is not pending, delivered or dead; one flag per record (true: added). */
  enqueue(records: readonly OutboxRecord[]): Promise<boolean[]>;
  /** Claims up to `limit` due SETs, earliest first, for `leaseMs`. */
  claim(leaseMs: number, limit: number): Promise<Claim>;
  /** Removes a delivered SET and remembers its jti for `rememberMs`. */
  delivered(jti: string, lease: number, rememberMs: number): Promise<boolean>;
  /** Puts a SET back (attempts and lastError updated by the caller), due after `delayMs`. */
  retry(record: OutboxRecord, lease: number, delayMs: number): Promise<boolean>;
  /** Moves a SET to the dead set. */
  dead(record: DeadRecord, lease: number): Promise<boolean>;
  /** SETs waiting for delivery (due or claimed). */
  pending(): Promise<number>;
  /** The dead set, for inspection (it is not trimmed: an operator clears it). */
  deadRecords(): Promise<DeadRecord[]>;
}

/** Most enqueue calls in one pipeline (one round trip each). */
const ENQUEUE_CHUNK = 500;

type CaepCommands = ChainableCommander & {
  caepEnqueue(
    due: string,
    sets: string,
    dead: string,
    done: string,
    jti: string,
    record: string,
  ): ChainableCommander;
};
type CaepClient = Redis & {
  caepClaim(due: string, sets: string, leaseMs: number, limit: number): Promise<unknown[]>;
  caepSettle(
    due: string,
    sets: string,
    dead: string,
    done: string,
    outcome: 'delivered' | 'retry' | 'dead',
    jti: string,
    lease: number,
    arg: number,
    record: string,
  ): Promise<number>;
};

/** The outbox in Redis. The client is the caller's (not closed here). */
export class RedisCaepOutbox implements CaepOutbox {
  private readonly redis: CaepClient;
  private readonly keys: CaepKeys;

  constructor(redis: Redis, keyPrefix: string) {
    registerScripts(redis);
    this.redis = redis as CaepClient;
    this.keys = caepKeys(checkKeyPrefix(keyPrefix));
  }

  async enqueue(records: readonly OutboxRecord[]): Promise<boolean[]> {
    const { due, sets, dead } = this.keys;
    const added: boolean[] = [];
    for (let i = 0; i < records.length; i += ENQUEUE_CHUNK) {
      const pipeline = this.redis.pipeline() as CaepCommands;
      for (const r of records.slice(i, i + ENQUEUE_CHUNK)) {
        pipeline.caepEnqueue(due, sets, dead, this.keys.delivered(r.jti), r.jti, JSON.stringify(r));
      }
      const results = (await pipeline.exec().catch(rethrow)) ?? [];
      for (const [err, value] of results) {
        if (err) throw outboxError(err);
        added.push(value === 1);
      }
    }
    return added;
  }

  async claim(leaseMs: number, limit: number): Promise<Claim> {
    const reply = await this.redis.caepClaim(this.keys.due, this.keys.sets, leaseMs, limit).catch(rethrow);
    const records: OutboxRecord[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2)
      records.push(JSON.parse(String(reply[i + 1])) as OutboxRecord);
    return { lease: Number(reply[0]), records };
  }

  delivered(jti: string, lease: number, rememberMs: number): Promise<boolean> {
    return this.settle('delivered', jti, lease, rememberMs, '');
  }

  retry(record: OutboxRecord, lease: number, delayMs: number): Promise<boolean> {
    return this.settle('retry', record.jti, lease, delayMs, JSON.stringify(record));
  }

  dead(record: DeadRecord, lease: number): Promise<boolean> {
    return this.settle('dead', record.jti, lease, 0, JSON.stringify(record));
  }

  pending(): Promise<number> {
    return this.redis.zcard(this.keys.due).catch(rethrow);
  }

  async deadRecords(): Promise<DeadRecord[]> {
    const values = await this.redis.hvals(this.keys.dead).catch(rethrow);
    return values.map((v) => JSON.parse(v) as DeadRecord);
  }

  private async settle(
    outcome: 'delivered' | 'retry' | 'dead',
    jti: string,
    lease: number,
    arg: number,
    record: string,
  ): Promise<boolean> {
    const { due, sets, dead } = this.keys;
    const reply = await this.redis
      .caepSettle(
        due,
        sets,
        dead,
        this.keys.delivered(jti),
        outcome,
        jti,
        lease,
        Math.max(0, Math.round(arg)),
        record,
      )
      .catch(rethrow);
    return reply === 1;
  }
}

function outboxError(err: unknown): RiskStreamError {
  if (err instanceof RiskStreamError) return err;
  return new RiskStreamError('STORE_UNAVAILABLE', `CAEP outbox: ${(err as Error).message}`, {
    retriable: true,
    cause: err,
  });
}

const rethrow = (err: unknown): never => {
  throw outboxError(err);
};

/**
 * The outbox in memory, for the demo and tests: the same semantics in one process, lost on exit.
 * Records are kept as JSON, as in Redis, so a caller never shares an object with the outbox.
 */
export class MemoryCaepOutbox implements CaepOutbox {
  private readonly due = new Map<string, number>();
  private readonly sets = new Map<string, string>();
  private readonly deadSet = new Map<string, string>();
  private readonly deliveredUntil = new Map<string, number>();
  private nextSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  enqueue(records: readonly OutboxRecord[]): Promise<boolean[]> {
    const now = this.now();
    this.sweep(now);
    return Promise.resolve(
      records.map((r) => {
        const until = this.deliveredUntil.get(r.jti);
        if (this.sets.has(r.jti) || this.deadSet.has(r.jti) || (until !== undefined && until > now))
          return false;
        this.sets.set(r.jti, JSON.stringify(r));
        this.due.set(r.jti, now);
        return true;
      }),
    );
  }

  claim(leaseMs: number, limit: number): Promise<Claim> {
    const now = this.now();
    const lease = now + leaseMs;
    const due = [...this.due].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
    const records: OutboxRecord[] = [];
    for (const [jti] of due.slice(0, limit)) {
      this.due.set(jti, lease);
      records.push(JSON.parse(this.sets.get(jti) as string) as OutboxRecord);
    }
    return Promise.resolve({ lease, records });
  }

  delivered(jti: string, lease: number, rememberMs: number): Promise<boolean> {
    const owned = this.due.get(jti) === lease;
    this.due.delete(jti);
    this.sets.delete(jti);
    if (rememberMs > 0) this.deliveredUntil.set(jti, this.now() + rememberMs);
    return Promise.resolve(owned);
  }

  retry(record: OutboxRecord, lease: number, delayMs: number): Promise<boolean> {
    if (this.due.get(record.jti) !== lease) return Promise.resolve(false);
    this.sets.set(record.jti, JSON.stringify(record));
    this.due.set(record.jti, this.now() + Math.max(0, delayMs));
    return Promise.resolve(true);
  }

  dead(record: DeadRecord, lease: number): Promise<boolean> {
    if (this.due.get(record.jti) !== lease) return Promise.resolve(false);
    this.due.delete(record.jti);
    this.sets.delete(record.jti);
    this.deadSet.set(record.jti, JSON.stringify(record));
    return Promise.resolve(true);
  }

  pending(): Promise<number> {
    return Promise.resolve(this.due.size);
  }

  deadRecords(): Promise<DeadRecord[]> {
    return Promise.resolve([...this.deadSet.values()].map((v) => JSON.parse(v) as DeadRecord));
  }

  /** Forgets expired delivered jtis, at most once a minute. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 60_000;
    for (const [jti, until] of this.deliveredUntil) if (until <= now) this.deliveredUntil.delete(jti);
  }
}
