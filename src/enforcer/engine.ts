import type { Decision, SessionAction } from '../contract';
import { decodeDecision, encodeAction } from '../emit/encode';

export interface EngineClientOptions {
  /** The engine's HTTP base URL, e.g. `http://risk-stream:9464`. */
  url: string;
  /** Sent as `authorization: Bearer <token>` when the engine is configured with tokens. */
  token?: string;
  /** How long one evaluation may take, answer read included. @default 250 ms */
  timeoutMs?: number;
}

/**
 * Why an evaluation gave no decision: `timeout`, `unreachable` (connection refused, reset),
 * `unauthorized` (401: missing or wrong token), `invalid_input` (400: the engine rejected the action),
 * `too_large` (413), `not_ready` (503), `bad_response` (another status, or a body that is not a Decision).
 */
export type EvaluateError =
  'timeout' | 'unreachable' | 'unauthorized' | 'invalid_input' | 'too_large' | 'not_ready' | 'bad_response';

export type EvaluateResult =
  | { ok: true; decision: Decision; ms: number }
  | { ok: false; error: EvaluateError; status: number | null; message: string; ms: number };

const BY_STATUS: Record<number, EvaluateError> = {
  400: 'invalid_input',
  401: 'unauthorized',
  413: 'too_large',
  503: 'not_ready',
};

/**
 * Client of the engine's inline API, `POST /v1/evaluate` (one SessionAction as JSON in, its Decision
 * as JSON out). Never throws: every failure is an EvaluateResult the caller turns into fail-open or
 * fail-closed. Uses Node's fetch, whose shared undici agent keeps connections alive between calls.
 */
export class EngineClient {
  private readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(opts: EngineClientOptions) {
    this.endpoint = new URL('/v1/evaluate', opts.url).toString();
    this.headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (opts.token) this.headers.authorization = `Bearer ${opts.token}`;
    this.timeoutMs = opts.timeoutMs ?? 250;
  }

  /**
   * Opens a kept-alive connection ahead of the first evaluation (GET /healthz), which otherwise pays
   * for loading Node's HTTP client and connecting, often more than the whole evaluation budget.
   * Resolves whether the engine answered; never throws.
   */
  async warmUp(timeoutMs = 2000): Promise<boolean> {
    try {
      const res = await fetch(new URL('/healthz', this.endpoint), { signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  async evaluate(action: SessionAction, timeoutMs: number = this.timeoutMs): Promise<EvaluateResult> {
    const t0 = performance.now();
    const fail = (error: EvaluateError, status: number | null, message: string): EvaluateResult => ({
      ok: false,
      error,
      status,
      message,
      ms: performance.now() - t0,
    });
    let status: number;
    let body: Buffer;
    try {
      const res = await fetch(this.endpoint, {
        method: 'POST',
        headers: this.headers,
        body: encodeAction(action, 'json'),
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        return fail('timeout', null, `no answer within ${timeoutMs} ms`);
      }
      return fail('unreachable', null, e.cause?.code ?? e.cause?.message ?? e.message);
    }
    if (status !== 200) {
      return fail(BY_STATUS[status] ?? 'bad_response', status, errorMessage(body) ?? `HTTP ${status}`);
    }
    try {
      const decision = decodeDecision(body);
      if (decision.event_id !== action.event_id) {
        return fail(
          'bad_response',
          status,
          `decision for event ${decision.event_id}, not ${action.event_id}`,
        );
      }
      return { ok: true, decision, ms: performance.now() - t0 };
    } catch (err) {
      return fail('bad_response', status, (err as Error).message);
    }
  }
}

/** `{error, message}` of an engine error body, as one line. */
function errorMessage(body: Buffer): string | undefined {
  try {
    const j = JSON.parse(body.toString('utf8')) as { error?: unknown; message?: unknown };
    const parts = [j.error, j.message].filter((x) => typeof x === 'string');
    return parts.length > 0 ? parts.join(': ') : undefined;
  } catch {
    return undefined;
  }
}
