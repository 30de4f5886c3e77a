import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { countAuthFailure, type Metrics } from '../metrics/metrics';
import { bearer, tokenMatcher, type HttpSecurity } from './security';

export interface HealthCheck {
  name: string;
  check: () => Promise<boolean> | boolean;
}

export interface ServerDeps {
  registry: Registry;
  /** Counts refused /admin/* requests (riskstream_http_auth_failures_total, route `admin`). */
  metrics?: Metrics;
  /** Everything /readyz requires: e.g. kafka, redis, model. */
  readiness: HealthCheck[];
  /** Extra info on /healthz (version, model). */
  info?: () => Record<string, unknown>;
  onReady?: (ready: boolean) => void;
  /** POST /admin/model/reload: re-read the model registry pointer now (the engine only). */
  reloadModel?: () => Promise<unknown>;
  /** POST /admin/policy/reload: re-read the policy file now (the engine only). */
  reloadPolicy?: () => unknown;
  /** Serve HTTPS (see resolveHttpSecurity). */
  https?: HttpSecurity['https'];
  /** Routes to add (the inline API, CAEP's well-known documents). */
  routes?: ((app: FastifyInstance) => void)[];
  /** Bearer tokens /admin/* requires; none: see adminOpen. */
  adminTokens?: readonly string[];
  /**
   * With no admin tokens: true, /admin/* is open (a loopback address, see resolveHttpSecurity);
   * false, every /admin/* request is refused until tokens are configured. @default true
   */
  adminOpen?: boolean;
  /** Analyst tokens: valid but read-only, so /admin/* answers them 403 (an unknown token gets 401). */
  analystTokens?: readonly string[];
}

/** Builds (does not start) the HTTP server: /metrics, /healthz, /readyz (and the engine's admin route). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = (
    deps.https
      ? Fastify({ logger: false, bodyLimit: 64 * 1024, https: deps.https })
      : Fastify({ logger: false, bodyLimit: 64 * 1024 })
  ) as FastifyInstance;

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.registry.contentType);
    return deps.registry.metrics();
  });

  // Liveness: the process is up and its event loop answers. Dependencies belong to /readyz.
  app.get('/healthz', () => ({
    status: 'ok',
    uptime_s: Math.round(process.uptime()),
    ...(deps.info?.() ?? {}),
  }));

  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, boolean> = {};
    await Promise.all(
      deps.readiness.map(async (c) => {
        try {
          checks[c.name] = await c.check();
        } catch {
          checks[c.name] = false;
        }
      }),
    );
    const ready = Object.values(checks).every(Boolean);
    deps.onReady?.(ready);
    reply.code(ready ? 200 : 503);
    return { ready, checks };
  });

  // /admin/* takes an admin token once any is configured: no token or an unknown one is a 401, an
  // analyst token (valid, read-only) a 403.
  const adminTokens = deps.adminTokens ?? [];
  if (adminTokens.length === 0 && deps.adminOpen === false) {
    app.addHook('onRequest', async (req, reply) => {
      if (!req.routeOptions.url?.startsWith('/admin/')) return;
      countAuthFailure(deps.metrics, 'admin', 401);
      reply.code(401).header('www-authenticate', 'Bearer realm="risk-stream-admin"');
      reply.header('cache-control', 'no-store');
      return reply.send({
        error: 'UNAUTHORIZED',
        message:
          'no admin token is configured and the server listens on a non-loopback address: set http.adminTokens',
      });
    });
  } else if (adminTokens.length > 0) {
    const isAdmin = tokenMatcher(adminTokens);
    const isAnalyst = tokenMatcher(deps.analystTokens ?? []);
    app.addHook('onRequest', async (req, reply) => {
      // The matched route, not the raw URL: the router decodes it (/%61dmin/... is /admin/...).
      if (!req.routeOptions.url?.startsWith('/admin/')) return;
      const token = bearer(req.headers.authorization);
      if (token !== null && isAdmin(token)) return;
      reply.header('cache-control', 'no-store');
      if (token !== null && isAnalyst(token)) {
        countAuthFailure(deps.metrics, 'admin', 403);
        reply.code(403);
        return reply.send({
          error: 'FORBIDDEN',
          message: 'an analyst token is read-only: /admin/* needs an admin token (http.adminTokens)',
        });
      }
      countAuthFailure(deps.metrics, 'admin', 401);
      reply.code(401).header('www-authenticate', 'Bearer realm="risk-stream-admin"');
      return reply.send({
        error: 'UNAUTHORIZED',
        message: 'an admin bearer token is required (http.adminTokens)',
      });
    });
  }

  const reload = deps.reloadModel;
  if (reload) {
    app.post('/admin/model/reload', async (_req, reply) => {
      try {
        return await reload();
      } catch (err) {
        reply.code(409);
        return { error: (err as Error).message };
      }
    });
  }

  const reloadPolicy = deps.reloadPolicy;
  if (reloadPolicy) {
    app.post('/admin/policy/reload', async (_req, reply) => {
      try {
        return reloadPolicy();
      } catch (err) {
        reply.code(409);
        return { error: (err as Error).message };
      }
    });
  }
  for (const add of deps.routes ?? []) add(app);

  return app;
}
