import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { bearer, tokenMatcher, type HttpSecurity } from './security';

export interface HealthCheck {
  name: string;
  check: () => Promise<boolean> | boolean;
}

export interface ServerDeps {
  registry: Registry;
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
  /** Bearer tokens /admin/* requires; none: the admin routes are open (loopback only). */
  adminTokens?: readonly string[];
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

  // /admin/* takes an admin token once any is configured (analyst tokens are read-only).
  const adminTokens = deps.adminTokens ?? [];
  if (adminTokens.length > 0) {
    const isAdmin = tokenMatcher(adminTokens);
    app.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/admin/')) return;
      const token = bearer(req.headers.authorization);
      if (token !== null && isAdmin(token)) return;
      reply.code(401).header('www-authenticate', 'Bearer realm="risk-stream-admin"');
      return reply.send({ error: 'UNAUTHORIZED', message: 'an admin bearer token is required' });
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
