import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import replyFrom from '@fastify/reply-from';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { SENSITIVE_ACTIONS, type ClientInfo, type Decision, type SessionAction } from '../../contract';
import type { EnforcerLogger } from '../client';
import type { EvaluateResult } from '../engine';
import { enforcerHook, sendDenial, type DenialOptions, type Enforcer } from '../fastify';
import type { ApplyOutcome, Denial } from '../state';
import { STEP_UP_PATH, clientInfo, fingerprint, routeAction, trustList, type RouteAction } from './mapping';
import { bearerToken, verifyToken, type TokenClaims } from './token';

/**
 * An example enforcement point: a reverse proxy in front of the toy app (toy-app.ts) that
 *
 * 1. maps every request of a session to a SessionAction (mapping.ts) and publishes it to the actions
 *    topic once answered (login and step-up results are read from the app's response);
 * 2. refuses requests the decisions topic has ruled out (EnforcerClient + enforcerHook);
 * 3. holds sensitive requests, and any request whose fingerprint (IP, User-Agent, JA4, device) differs
 *    from the last one seen for the session, until the engine's inline answer (POST /v1/evaluate),
 *    and applies it at once, to this request and to the local state;
 * 4. forwards the rest to the app (@fastify/reply-from), bodies untouched.
 */

/** What buildProxy needs: no Kafka here, so it can be built around any enforcer and publisher. */
export interface ProxyDeps extends DenialOptions {
  /** The app's base URL. */
  upstream: string;
  /** Verifies the app's session tokens (token.ts). */
  tokenSecret: string;
  /** Local enforcement state: an EnforcerClient. */
  enforcer: Enforcer & {
    apply(d: Decision): ApplyOutcome;
    state: { denialOf(d: Decision): Denial | null };
  };
  /** Where answered actions go (ActionPublisher.publish). */
  publish(action: SessionAction): void;
  /** The engine's inline API; none: no inline evaluation (decisions come from the topic only). */
  engine?: { evaluate(action: SessionAction, timeoutMs?: number): Promise<EvaluateResult> } | null;
  /** @default 250 ms */
  inlineTimeoutMs?: number;
  /** Without an inline answer in time, refuse (503) sensitive actions. @default true */
  failClosedSensitive?: boolean;
  /** Without an inline answer in time, refuse other actions too. @default false */
  failClosedOther?: boolean;
  /** Hops (IPs, CIDRs) whose X-Forwarded-For and edge headers are believed. @default loopback */
  trustedProxies?: string[];
  /** SessionAction.app. @default 'toy-crm' */
  app?: string;
  /** Sessions whose last fingerprint is remembered. @default 100_000 */
  maxTrackedSessions?: number;
  logger?: EnforcerLogger;
}

export interface InlineStats {
  calls: number;
  /** Answers that were not ALLOW. */
  denied: number;
  /** No answer in time or an error; then failed open or closed. */
  failed: number;
  failedClosed: number;
}

interface RequestState {
  /** Taken when the request arrives (the socket may be gone by the time the app has answered). */
  client: ClientInfo;
  route: RouteAction;
  /** Published once the response is sent; null: nothing to publish (no session). */
  action: SessionAction | null;
}

const LOOPBACK = ['127.0.0.0/8', '::1'];

/** Builds (does not start) the proxy. */
export function buildProxy(deps: ProxyDeps): { app: FastifyInstance; inlineStats: () => InlineStats } {
  const trusted = trustList(deps.trustedProxies ?? LOOPBACK);
  const appName = deps.app ?? 'toy-crm';
  const timeoutMs = deps.inlineTimeoutMs ?? 250;
  const failClosedSensitive = deps.failClosedSensitive ?? true;
  const failClosedOther = deps.failClosedOther ?? false;
  const maxTracked = deps.maxTrackedSessions ?? 100_000;
  const denialOpts: DenialOptions = {
    stepUpUrl: deps.stepUpUrl ?? STEP_UP_PATH,
    acrValues: deps.acrValues,
    exposeReasons: deps.exposeReasons,
  };
  const states = new WeakMap<FastifyRequest, RequestState>();
  /** Last fingerprint seen per session (insertion order = least recently seen first). */
  const lastFingerprint = new Map<string, string>();
  const inline: InlineStats = { calls: 0, denied: 0, failed: 0, failedClosed: 0 };

  const app = Fastify({
    logger: false,
    trustProxy: (addr: string) => trusted(addr),
  });
  // Bodies stream through untouched: the proxy never parses or re-encodes them (reply-from pipes a
  // stream body as is, where it would JSON-encode a parsed or buffered JSON body).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  void app.register(replyFrom, { base: deps.upstream, disableRequestLogging: true });

  const seen = (sid: string, fp: string): boolean => {
    const prev = lastFingerprint.get(sid);
    lastFingerprint.delete(sid);
    lastFingerprint.set(sid, fp);
    if (lastFingerprint.size > maxTracked)
      lastFingerprint.delete(lastFingerprint.keys().next().value as string);
    return prev === fp;
  };

  function buildAction(claims: TokenClaims, { client, route }: RequestState): SessionAction {
    const name = route.action;
    return {
      event_id: randomUUID(),
      ts: Date.now(),
      session_id: claims.sid,
      user_id: claims.sub,
      principal_type: claims.typ,
      app: appName,
      action: name,
      resource: route.resource,
      records: route.records,
      mfa: name === 'login' ? claims.mfa : null,
      client,
    };
  }

  // 1. Who is this, and which action: verified token -> session, route -> action.
  app.addHook('onRequest', async (req) => {
    const token = bearerToken(req.headers.authorization);
    const claims = token === null ? null : verifyToken(token, deps.tokenSecret);
    // Classified on the path as reply-from forwards it (WHATWG-normalised: no dot segments).
    const url = new URL(req.url, 'http://proxy.invalid');
    const state: RequestState = {
      client: clientInfo(req.ip, req.headers, trusted(req.socket.remoteAddress ?? '')),
      route: routeAction(req.method, url.pathname, url.searchParams),
      action: null,
    };
    // A login has no session yet: its action is built from the app's answer.
    if (claims && state.route.action !== 'login') state.action = buildAction(claims, state);
    states.set(req, state);
  });

  // 2. What the decisions topic already said about the session.
  app.addHook(
    'onRequest',
    enforcerHook(deps.enforcer, {
      ...denialOpts,
      sessionId: (req) => states.get(req)?.action?.session_id ?? null,
      action: (req) => states.get(req)?.action?.action ?? 'view',
    }),
  );

  // 3. Inline evaluation: sensitive actions and changed fingerprints wait for the engine.
  app.addHook('onRequest', async (req, reply) => {
    const a = states.get(req)?.action;
    if (!a || a.action === 'step_up') return undefined;
    const sensitive = SENSITIVE_ACTIONS.has(a.action);
    const sameClient = seen(a.session_id, fingerprint(a.client));
    if (a.action === 'logout') lastFingerprint.delete(a.session_id);
    if (!deps.engine || (!sensitive && sameClient)) return undefined;
    return decideInline(a, reply, sensitive ? failClosedSensitive : failClosedOther);
  });

  async function decideInline(a: SessionAction, reply: FastifyReply, failClosed: boolean) {
    inline.calls++;
    const r = await deps.engine!.evaluate(a, timeoutMs);
    if (!r.ok) {
      inline.failed++;
      deps.logger?.warn(
        { error: r.error, status: r.status, message: r.message, ms: Math.round(r.ms), failClosed },
        'inline evaluation failed',
      );
      if (!failClosed) return undefined;
      inline.failedClosed++;
      return reply
        .code(503)
        .header('retry-after', '1')
        .header('cache-control', 'no-store')
        .send({ error: 'risk_check_unavailable', reason: r.error });
    }
    // A v1 engine leaves `action` out; this request's action is the one it decided on.
    const d = { ...r.decision, action: r.decision.action ?? a.action };
    deps.enforcer.apply(d);
    if (d.decision === 'ALLOW') return undefined;
    inline.denied++;
    const local = deps.enforcer.check(a.session_id, a.action);
    const denial = local.allow ? deps.enforcer.state.denialOf(d) : local;
    return denial ? sendDenial(reply, denial, denialOpts) : undefined;
  }

  // 4. Everything else goes to the app.
  const forward = (req: FastifyRequest, reply: FastifyReply) =>
    reply.from(undefined, {
      onResponse: (_req, _reply, res) => void relay(req, reply, res.stream, res.statusCode),
    });
  app.all('/', forward);
  app.all('/*', forward);

  /** The app's answer: login and step-up results become actions; everything is passed on. */
  async function relay(req: FastifyRequest, reply: FastifyReply, body: IncomingMessage, status: number) {
    const state = states.get(req);
    try {
      if (state?.route.action === 'login' && status === 200) {
        const bytes = await readAll(body);
        const claims = loginClaims(bytes, deps.tokenSecret);
        if (claims) {
          state.action = buildAction(claims, state);
          seen(claims.sid, fingerprint(state.action.client));
        }
        return reply.send(bytes);
      }
      if (state?.action?.action === 'step_up') {
        state.action.action = status >= 200 && status < 300 ? 'step_up_passed' : 'step_up_failed';
        // Lift the local step-up now, not when the decision comes round the topic.
        if (state.action.action === 'step_up_passed' && deps.engine) {
          const r = await deps.engine.evaluate(state.action, timeoutMs);
          if (r.ok) deps.enforcer.apply({ ...r.decision, action: r.decision.action ?? 'step_up_passed' });
        }
      }
      return reply.send(body);
    } catch (err) {
      deps.logger?.warn({ err: (err as Error).message }, 'relaying the response failed');
      return reply.code(502).send({ error: 'bad_gateway' });
    }
  }

  // 5. Published once answered, refused or not: the engine scores attempts too.
  app.addHook('onResponse', async (req) => {
    const a = states.get(req)?.action;
    if (!a) return;
    if (a.action === 'step_up') a.action = 'step_up_failed'; // refused before the app answered
    deps.publish(a);
  });

  return { app, inlineStats: () => ({ ...inline }) };
}

function loginClaims(body: Buffer, secret: string): TokenClaims | null {
  try {
    const j = JSON.parse(body.toString('utf8')) as { token?: unknown };
    return typeof j.token === 'string' ? verifyToken(j.token, secret) : null;
  } catch {
    return null;
  }
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
