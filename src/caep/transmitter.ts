import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { Settings } from '../config/schema';
import type { Decision } from '../contract';
import type { Logger } from '../log';
import { retryDelay } from './backoff';
import type { SigningKey } from './keys';
import { loadSigningKey } from './keys';
import type { CaepMetrics } from './metrics';
import { createCaepMetrics } from './metrics';
import type { CaepOutbox, DeadReason, OutboxRecord } from './outbox';
import { MemoryCaepOutbox, RedisCaepOutbox } from './outbox';
import { pushSet } from './push';
import { buildSet, caepEventUri } from './set';
import type { CaepReceiver } from './settings';
import { CAEP_EVENT_NAMES } from './settings';

/** RFC 8935 push delivery, as SSF 1.0 names it in `delivery_methods_supported`. */
export const PUSH_DELIVERY_METHOD = 'urn:ietf:rfc:8935';

/** Most SETs claimed (and pushed concurrently) per poll; a full claim polls again at once. */
const CLAIM_LIMIT = 64;

/** Added to twice the push timeout for a claim's lease: signing and settling take a little too. */
const LEASE_MARGIN_MS = 1000;

/** What CaepTransmitter.create needs besides the settings. */
export interface CaepDeps {
  /** The outbox lives here; without it, in memory (the demo: lost on exit). Not closed by close(). */
  redis?: Redis;
  /** settings.redis.keyPrefix */
  keyPrefix: string;
  log: Logger;
  /** Where the riskstream_caep_* metrics go (a private registry when absent). */
  registry?: Registry;
  /** The `iss` when caep.issuer is not set, e.g. http://<http.host>:<http.port>. */
  defaultIssuer: string;
  /** For tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/**
 * The CAEP transmitter: turns STEP_UP and TERMINATE decisions into signed SETs, stores them in a
 * durable outbox (publish) and pushes them to every configured receiver per RFC 8935 (start).
 * Several instances may share one Redis outbox; each SET is pushed by one of them at a time.
 */
export class CaepTransmitter {
  /** The `iss` of every SET. */
  readonly issuer: string;
  /** The outbox, for inspection (pending count, dead set). */
  readonly outbox: CaepOutbox;
  /** The metrics, on the registry given to create(). */
  readonly metrics: CaepMetrics;

  private readonly receivers: ReadonlyMap<string, CaepReceiver>;
  private readonly leaseMs: number;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private outboxDown = false;
  /** Receivers whose last push failed (logged once when they start and stop failing). */
  private readonly failing = new Set<string>();

  private constructor(
    private readonly settings: Settings['caep'],
    private readonly key: SigningKey,
    outbox: CaepOutbox,
    metrics: CaepMetrics,
    private readonly log: Logger,
    private readonly fetchImpl: typeof fetch,
    issuer: string,
  ) {
    this.issuer = issuer;
    this.outbox = outbox;
    this.metrics = metrics;
    this.receivers = new Map(settings.receivers.map((r) => [r.audience, r]));
    this.leaseMs = 2 * settings.pushTimeout + LEASE_MARGIN_MS;
  }

  /**
   * Loads (or generates) the signing key and opens the outbox. A key file that cannot be used
   * fails with CONFIG_INVALID naming caep.keyFile.
   */
  static async create(settings: Settings['caep'], deps: CaepDeps): Promise<CaepTransmitter> {
    const log = deps.log.child({ component: 'caep' });
    const key = await loadSigningKey(settings.keyFile, settings.alg, log);
    const outbox: CaepOutbox = deps.redis
      ? new RedisCaepOutbox(deps.redis, deps.keyPrefix)
      : new MemoryCaepOutbox();
    const metrics = createCaepMetrics(deps.registry ?? new Registry(), () => outbox.pending());
    const issuer = settings.issuer ?? deps.defaultIssuer;
    const t = new CaepTransmitter(settings, key, outbox, metrics, log, deps.fetch ?? fetch, issuer);
    log.info(
      {
        issuer,
        kid: key.kid,
        alg: key.alg,
        receivers: settings.receivers.map((r) => ({ audience: r.audience, url: r.url })),
        outbox: deps.redis ? 'redis' : 'memory',
      },
      'CAEP transmitter ready',
    );
    return t;
  }

  /**
   * Durably enqueues one SET per (decision, receiver) for STEP_UP/TERMINATE decisions (others are
   * ignored). Idempotent per jti: one already pending, delivered within caep.deliveredTtl, or dead
   * is not stored again. Resolves once stored (Redis acknowledged).
   */
  async publish(decisions: readonly Decision[]): Promise<void> {
    const now = Date.now();
    const iat = Math.floor(now / 1000);
    const records: OutboxRecord[] = [];
    for (const d of decisions) {
      for (const receiver of this.receivers.values()) {
        const set = buildSet(d, receiver, this.issuer, iat);
        if (set === null) continue;
        records.push({
          jti: set.claims.jti,
          event: set.event,
          audience: receiver.audience,
          claims: set.claims,
          attempts: 0,
          enqueuedAt: now,
        });
      }
    }
    if (records.length === 0) return;
    const added = await this.outbox.enqueue(records);
    let any = false;
    added.forEach((ok, i) => {
      if (!ok) return;
      any = true;
      this.metrics.enqueued.inc({ event: records[i]!.event });
    });
    if (any) this.wake();
  }

  /** Starts the delivery loop: polls the outbox every caep.pollInterval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /**
   * Stops the loop and waits for the pushes in flight to be settled. SETs not delivered stay in
   * the outbox for the next start (of this or any instance).
   */
  async close(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** The public signing key, as /.well-known/jwks.json serves it. */
  jwks(): { keys: object[] } {
    return { keys: [{ ...this.key.publicJwk }] };
  }

  /** The SSF 1.0 transmitter configuration (/.well-known/ssf-configuration). */
  configuration(): object {
    return {
      spec_version: '1_0',
      issuer: this.issuer,
      jwks_uri: `${this.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`,
      delivery_methods_supported: [PUSH_DELIVERY_METHOD],
      events_supported: CAEP_EVENT_NAMES.map(caepEventUri),
    };
  }

  /** Polls now rather than at the next interval (after a publish). */
  private wake(): void {
    if (!this.running || this.polling !== undefined) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.polling = this.poll().then((full) => {
        this.polling = undefined;
        // (a close() and start() during the poll may have scheduled one already)
        if (this.running && this.timer === undefined) this.schedule(full ? 0 : this.settings.pollInterval);
      });
    }, delayMs);
  }

  /** One claim and its pushes. Resolves true when the claim was full (more may be due). Never rejects. */
  private async poll(): Promise<boolean> {
    let claim;
    try {
      claim = await this.outbox.claim(this.leaseMs, CLAIM_LIMIT);
    } catch (err) {
      if (!this.outboxDown) this.log.warn({ err }, 'CAEP outbox unavailable: delivery paused');
      this.outboxDown = true;
      return false;
    }
    if (this.outboxDown) this.log.info('CAEP outbox available again: delivery resumed');
    this.outboxDown = false;
    await Promise.all(
      claim.records.map((record) =>
        this.deliver(record, claim.lease).catch((err: unknown) => {
          // The SET stays claimed and is due again when the lease ends.
          this.log.warn({ err, jti: record.jti, receiver: record.audience }, 'CAEP delivery step failed');
        }),
      ),
    );
    return claim.records.length === CLAIM_LIMIT;
  }

  private async deliver(record: OutboxRecord, lease: number): Promise<void> {
    const receiver = this.receivers.get(record.audience);
    if (receiver === undefined) {
      const description = `no receiver with audience ${record.audience} is configured`;
      await this.bury(record, lease, 'unconfigured', 'receiver_removed', description);
      this.log.warn(
        { receiver: record.audience, jti: record.jti },
        `CAEP SET moved to the dead set: ${description}`,
      );
      return;
    }
    const jws = await this.key.sign(record.claims);
    const stopTimer = this.metrics.pushSeconds.startTimer();
    const result = await pushSet(this.fetchImpl, {
      url: receiver.url,
      jws,
      authorization: receiver.authorization,
      timeoutMs: this.settings.pushTimeout,
    });
    stopTimer();
    const attempts = record.attempts + 1;
    const where = { receiver: receiver.audience, url: receiver.url, jti: record.jti, attempts };

    switch (result.outcome) {
      case 'delivered': {
        this.metrics.pushes.inc({ outcome: 'delivered' });
        if (this.failing.delete(receiver.audience))
          this.log.info(where, 'CAEP receiver accepting SETs again');
        const owned = await this.outbox.delivered(record.jti, lease, this.settings.deliveredTtl);
        if (result.duplicate) {
          this.log.info({ ...where, owned }, 'CAEP receiver already had this SET: counted as delivered');
        } else {
          this.log.debug({ ...where, status: result.status, owned }, 'CAEP SET delivered');
        }
        return;
      }
      case 'rejected': {
        this.metrics.pushes.inc({ outcome: 'rejected' });
        const { err, description } = result;
        await this.bury({ ...record, attempts }, lease, 'rejected', err, description);
        this.log.warn(
          { ...where, status: result.status, err, description },
          'CAEP receiver rejected a SET: moved to the dead set, not retried',
        );
        return;
      }
      case 'failed': {
        if (!this.failing.has(receiver.audience)) {
          this.failing.add(receiver.audience);
          this.log.warn({ ...where, error: result.error }, 'CAEP push failed: retrying with backoff');
        }
        const failed = { ...record, attempts, lastError: result.error };
        if (attempts >= this.settings.maxAttempts) {
          this.metrics.pushes.inc({ outcome: 'dead' });
          await this.bury(failed, lease, 'exhausted', result.error, `gave up after ${attempts} attempts`);
          this.log.warn(
            { ...where, error: result.error },
            'CAEP SET moved to the dead set: caep.maxAttempts pushes failed',
          );
          return;
        }
        this.metrics.pushes.inc({ outcome: 'retry' });
        const delay = retryDelay(attempts, this.settings.retryInitial, this.settings.retryMax);
        const owned = await this.outbox.retry(failed, lease, delay);
        this.log.debug({ ...where, error: result.error, delayMs: delay, owned }, 'CAEP push failed');
        return;
      }
      default:
        return result satisfies never;
    }
  }

  /** Moves a SET to the dead set (when the lease is still ours) and counts it. */
  private async bury(
    record: OutboxRecord,
    lease: number,
    reason: DeadReason,
    err: string,
    description: string,
  ): Promise<void> {
    const owned = await this.outbox.dead({ ...record, reason, err, description, deadAt: Date.now() }, lease);
    if (owned) this.metrics.dead.inc({ reason });
  }
}
