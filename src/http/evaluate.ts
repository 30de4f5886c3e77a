import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RawRecord } from '../contract';
import { encodeDecision } from '../emit/encode';
import type { Logger } from '../log';
import { countAuthFailure, type Metrics } from '../metrics/metrics';
import type { BatchHandler } from '../pipeline/handler';
import { INLINE_SOURCE, type BatchResult, type Outcome } from '../pipeline/process';
import { bearer, tokenMatcher } from './security';

/**
 * POST /v1/evaluate: one SessionAction (JSON) in, its Decision out, synchronously, through the
 * engine's own pipeline (same store, model, policy and friction state as the Kafka path), so a
 * proxy can hold an export until it has the answer.
 *
 * - Idempotent by event_id: the same action sent again, or arriving on Kafka later, gets the same
 *   decision and is not counted twice in the session's window; one the API published is not
 *   published again by the Kafka path.
 * - Requests that arrive together are decided together (one store round trip and one model call
 *   for all of them), up to `maxBatch`, without waiting for more to arrive.
 * - Callers authenticate with a bearer token (`http.tokens`) or a client certificate the server's
 *   CA verified (`http.clientCerts: verify`); with neither configured the API is open (allowed only
 *   on a loopback address, see loadSettings).
 */

export interface EvaluateDeps {
  handler: BatchHandler;
  /** Write decisions (and invalid requests, as dead letters) to Kafka, as the stream path does. */
  publish: boolean;
  /** ALLOW decisions are published too (kafka.emitAllow). */
  publishAllow: boolean;
  /** Accepted bearer tokens (empty: none). */
  tokens: readonly string[];
  /** Accept callers whose TLS client certificate verified against the configured CA. */
  clientCerts: boolean;
  /** Largest request body, bytes. */
  maxBytes: number;
  /** Most requests decided together. */
  maxBatch: number;
  /** False while the engine cannot decide (store or model not ready): 503. */
  ready: () => boolean;
  metrics?: Metrics;
  log: Logger;
}

interface Pending {
  record: RawRecord;
  resolve: (outcome: Outcome) => void;
  reject: (err: unknown) => void;
}

/** Decides queued requests in batches, as they arrive, several batches in flight. */
class Coalescer {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly deps: EvaluateDeps,
    private readonly maxInFlight = 4,
  ) {}

  submit(record: RawRecord): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    // After the I/O callbacks of this loop turn: requests that arrived together go together.
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.queue.splice(0, this.deps.maxBatch);
      if (batch.length > 0) {
        const run = this.run(batch);
        this.running.add(run);
        void run.finally(() => this.running.delete(run));
      }
      this.schedule();
    });
  }

  /** Resolves once every request taken is answered and its batch settled (answers come first). */
  async drain(): Promise<void> {
    while (this.running.size > 0 || this.queue.length > 0) {
      if (this.running.size > 0) await Promise.allSettled([...this.running]);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    this.inFlight++;
    const records = batch.map((p) => p.record);
    try {
      const { handler } = this.deps;
      const result: BatchResult = await handler.process(records, {
        origin: 'api',
        recordAllow: this.deps.publish && this.deps.publishAllow,
        // Unpublished answers leave no evidence (it would never be written): the Kafka copy makes it.
        evidence: this.deps.publish,
      });
      const answer = (only?: (o: Outcome) => boolean) =>
        batch.forEach((p, i) => {
          const o = result.outcomes[i] as Outcome;
          if (!only || only(o)) p.resolve(o);
        });
      if (!this.deps.publish) {
        answer();
        await result.settle?.();
        return;
      }
      // A decision that is published is answered once Kafka has it (the audit trail comes first);
      // the rest (unpublished ALLOWs, invalid requests) at once. Settling follows either way.
      const written = new Set(handler.toEmit(result).map((d) => d.decision_id));
      answer((o) => o.kind !== 'decision' || !written.has(o.decision.decision_id));
      await handler.emit(records, result, answer);
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}

function problem(reply: FastifyReply, status: number, error: string, message: string) {
  reply.code(status).header('cache-control', 'no-store');
  return { error, message };
}

export function registerEvaluateRoute(app: FastifyInstance, deps: EvaluateDeps): void {
  const coalescer = new Coalescer(deps);
  const matches = tokenMatcher(deps.tokens);
  const authRequired = deps.tokens.length > 0 || deps.clientCerts;
  const m = deps.metrics;

  const authorized = (req: FastifyRequest): boolean => {
    if (!authRequired) return true;
    if (deps.clientCerts && (req.raw.socket as TLSSocket).authorized === true) return true;
    const token = bearer(req.headers.authorization);
    return deps.tokens.length > 0 && token !== null && matches(token);
  };

  // Closing the server waits for batches still settling after their requests were answered.
  app.addHook('onClose', () => coalescer.drain());

  app.register(async (scope) => {
    // The body stays bytes: the pipeline's decoder validates it (one code path with Kafka input).
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: deps.maxBytes },
      (_req, body, done) => done(null, body),
    );
    scope.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
      const status = err.statusCode ?? 500;
      m?.evaluateRequests.inc({ status: String(status) });
      if (status === 413)
        return problem(reply, 413, 'TOO_LARGE', `the request body exceeds ${deps.maxBytes} bytes`);
      if (status === 415)
        return problem(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', 'send the SessionAction as application/json');
      if (status < 500) return problem(reply, status, err.code ?? 'BAD_REQUEST', err.message);
      deps.log.error({ err: err.message }, 'inline evaluation failed');
      return problem(reply, 503, 'UNAVAILABLE', `could not decide: ${err.message}`);
    });

    scope.post('/v1/evaluate', async (req, reply) => {
      const started = performance.now();
      const done = (status: number) => {
        m?.evaluateRequests.inc({ status: String(status) });
        if (status === 200) m?.evaluateSeconds.observe((performance.now() - started) / 1000);
      };
      if (!authorized(req)) {
        done(401);
        countAuthFailure(m, 'evaluate', 401);
        reply.header('www-authenticate', 'Bearer realm="risk-stream"');
        return problem(reply, 401, 'UNAUTHORIZED', 'a valid bearer token or client certificate is required');
      }
      if (!deps.ready()) {
        done(503);
        return problem(reply, 503, 'NOT_READY', 'the engine is not ready to decide (see /readyz)');
      }
      const body = req.body;
      if (!Buffer.isBuffer(body)) {
        done(415);
        return problem(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', 'send the SessionAction as application/json');
      }
      const outcome = await coalescer.submit({
        value: body,
        key: null,
        source: INLINE_SOURCE,
        partition: null,
        offset: null,
        line: null,
        receivedAt: Date.now(),
      });
      if (outcome.kind === 'dead_letter') {
        done(400);
        const dl = outcome.deadLetter;
        return problem(reply, 400, dl.reason_code, dl.reason);
      }
      done(200);
      reply.header('content-type', 'application/json; charset=utf-8');
      return reply.send(encodeDecision(outcome.decision, 'json'));
    });
  });
}
