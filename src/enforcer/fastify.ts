import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CheckResult, Denial } from './state';

/** Anything that answers `check`: an EnforcerClient, or a SessionEnforcement fed some other way. */
export interface Enforcer {
  check(sessionId: string, action: string): CheckResult;
}

/** How a denial is written to the HTTP client. */
export interface DenialOptions {
  /** Where the client goes to step up; echoed in the 401 body as `step_up_url`. */
  stepUpUrl?: string;
  /** RFC 9470 `acr_values` of the STEP_UP challenge (space-separated, preferred first). @default 'mfa' */
  acrValues?: string;
  /**
   * What the body tells the client about the reasons: `codes` (the stable codes only), `full`
   * (code, detail, weight: the detail can name the IP or User-Agent that looked wrong, which also
   * tells an attacker what to fake), `none`. @default 'codes'
   */
  exposeReasons?: 'codes' | 'full' | 'none';
}

export interface EnforcerHookOptions extends DenialOptions {
  /** The request's session id, or null for a request outside any session (it passes). */
  sessionId(req: FastifyRequest): string | null;
  /** The action name the request performs (`view`, `export`, ...; see SessionAction.action). */
  action(req: FastifyRequest): string;
}

/** The JSON body of a denial. */
export interface DenialBody {
  error: 'step_up_required' | 'action_blocked' | 'session_terminated';
  decision: Denial['decision'];
  decision_id: string;
  reasons: unknown[];
  /** Epoch millis when the denial lapses on its own (the step-up, block or termination TTL). */
  until: number;
  step_up_url?: string;
}

const ERRORS = {
  STEP_UP: 'step_up_required',
  BLOCK_ACTION: 'action_blocked',
  TERMINATE: 'session_terminated',
} as const;

/** A quoted-string for an auth-param (RFC 9110 §11.2): backslash-escape `"` and `\`. */
const quoted = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The RFC 9470 step-up challenge for the WWW-Authenticate header. */
export function stepUpChallenge(acrValues = 'mfa'): string {
  return (
    `Bearer error="insufficient_user_authentication", ` +
    `error_description=${quoted('A stronger authentication is required for this session')}, ` +
    `acr_values=${quoted(acrValues)}`
  );
}

export function denialBody(d: Denial, opts: DenialOptions = {}): DenialBody {
  const expose = opts.exposeReasons ?? 'codes';
  const body: DenialBody = {
    error: ERRORS[d.decision],
    decision: d.decision,
    decision_id: d.decisionId,
    reasons: expose === 'none' ? [] : expose === 'codes' ? d.reasons.map((r) => r.code) : d.reasons,
    until: d.until,
  };
  if (d.decision === 'STEP_UP' && opts.stepUpUrl !== undefined) body.step_up_url = opts.stepUpUrl;
  return body;
}

/**
 * Answers a denied request: 401 with an RFC 9470 challenge for STEP_UP, 403 for BLOCK_ACTION and
 * TERMINATE, JSON body (denialBody), never cached. Returns the reply (return it from an async hook).
 */
export function sendDenial(reply: FastifyReply, d: Denial, opts: DenialOptions = {}): FastifyReply {
  if (d.decision === 'STEP_UP') reply.header('www-authenticate', stepUpChallenge(opts.acrValues));
  return reply
    .code(d.status)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(denialBody(d, opts));
}

/**
 * A fastify onRequest hook that stops requests the enforcer denies; everything else goes on.
 *
 * ```ts
 * app.addHook('onRequest', enforcerHook(client, {
 *   sessionId: (req) => mySessionId(req),
 *   action: (req) => (req.url.startsWith('/export') ? 'export' : 'view'),
 *   stepUpUrl: '/step-up',
 * }));
 * ```
 */
export function enforcerHook(
  enforcer: Enforcer,
  opts: EnforcerHookOptions,
): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  return async (req, reply) => {
    const sessionId = opts.sessionId(req);
    if (sessionId === null) return undefined;
    const result = enforcer.check(sessionId, opts.action(req));
    return result.allow ? undefined : sendDenial(reply, result, opts);
  };
}
