import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { PrincipalType } from '../../contract';
import { bearerToken, signToken, verifyToken, type TokenClaims } from './token';

/**
 * A tiny "SaaS" CRM for the example proxy to stand in front of. It knows nothing of risk-stream:
 * it logs users in, serves records, exports and approvals, and checks step-up codes. Everything is
 * in memory and deliberately simple (plain-text passwords, a fixed one-time code): a toy, not a template.
 */

/** The one-time code POST /step-up and a login's `mfa` accept. A fixed code: this is a toy. */
export const TOY_STEP_UP_CODE = '246810';

/** The toy's users: `user` / `password` / principal type. */
export const TOY_USERS: Readonly<Record<string, { password: string; type: PrincipalType }>> = {
  alice: { password: 'alice-pw', type: 'EMPLOYEE' },
  carol: { password: 'carol-pw', type: 'CONTRACTOR' },
  root: { password: 'root-pw', type: 'ADMIN' },
  'svc-report': { password: 'svc-pw', type: 'SERVICE' },
};

export interface ToyAppOptions {
  /** Signs session tokens; the proxy verifies them with the same secret. */
  tokenSecret: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
  /** @default TOY_STEP_UP_CODE */
  stepUpCode?: string;
}

/** A started server: where it listens and how to stop it. */
export interface Running {
  url: string;
  close(): Promise<void>;
}

const MAX_EXPORT_ROWS = 100_000;

/** Builds (does not start) the toy app. */
export function buildToyApp(opts: ToyAppOptions): FastifyInstance {
  const code = opts.stepUpCode ?? TOY_STEP_UP_CODE;
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  /** Live sessions: id -> claims. */
  const sessions = new Map<string, TokenClaims>();

  function session(req: FastifyRequest, reply: FastifyReply): TokenClaims | null {
    const token = bearerToken(req.headers.authorization);
    const claims = token === null ? null : verifyToken(token, opts.tokenSecret);
    if (!claims || !sessions.has(claims.sid)) {
      void reply.code(401).send({ error: 'not_authenticated' });
      return null;
    }
    return claims;
  }

  app.post<{ Body: { user?: unknown; password?: unknown; mfa?: unknown } }>('/login', async (req, reply) => {
    const { user, password, mfa } = req.body ?? {};
    const u = typeof user === 'string' ? TOY_USERS[user] : undefined;
    if (!u || password !== u.password) return reply.code(401).send({ error: 'invalid_credentials' });
    const claims: TokenClaims = {
      sid: randomUUID(),
      sub: user as string,
      typ: u.type,
      mfa: mfa === code,
      iat: Date.now(),
    };
    sessions.set(claims.sid, claims);
    return {
      token: signToken(claims, opts.tokenSecret),
      session_id: claims.sid,
      user_id: claims.sub,
      mfa: claims.mfa,
    };
  });

  app.get('/records', async (req, reply) => {
    if (!session(req, reply)) return reply;
    return { records: rows(5) };
  });

  app.get<{ Querystring: { rows?: string } }>('/export', async (req, reply) => {
    if (!session(req, reply)) return reply;
    const n = Number(req.query.rows ?? 100);
    if (!Number.isInteger(n) || n < 0 || n > MAX_EXPORT_ROWS) {
      return reply.code(400).send({ error: 'bad_rows', max: MAX_EXPORT_ROWS });
    }
    const csv = ['id,name,email', ...rows(n).map((r) => `${r.id},${r.name},${r.email}`)].join('\n');
    return reply.type('text/csv').send(`${csv}\n`);
  });

  app.post<{ Params: { id: string } }>('/approve/:id', async (req, reply) => {
    const s = session(req, reply);
    if (!s) return reply;
    return { approved: req.params.id, by: s.sub };
  });

  app.post('/admin/config', async (req, reply) => {
    const s = session(req, reply);
    if (!s) return reply;
    if (s.typ !== 'ADMIN') return reply.code(403).send({ error: 'admins_only' });
    return { ok: true };
  });

  app.post<{ Body: { code?: unknown } }>('/step-up', async (req, reply) => {
    if (!session(req, reply)) return reply;
    if (req.body?.code !== code) return reply.code(401).send({ error: 'invalid_code' });
    return { ok: true };
  });

  app.post('/logout', async (req, reply) => {
    const s = session(req, reply);
    if (!s) return reply;
    sessions.delete(s.sid);
    return { ok: true };
  });

  app.get('/healthz', () => ({ status: 'ok' }));
  return app;
}

function rows(n: number): { id: number; name: string; email: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    name: `Customer ${i + 1}`,
    email: `customer${i + 1}@example.com`,
  }));
}

/** Starts the toy app; resolves once it listens. */
export async function startToyApp(opts: ToyAppOptions): Promise<Running> {
  const app = buildToyApp(opts);
  const url = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  return { url, close: () => app.close() };
}

// node dist/src/enforcer/example/toy-app.js: the app alone (TOKEN_SECRET, TOY_APP_PORT).
if (require.main === module) {
  const secret = process.env.TOKEN_SECRET;
  if (!secret) {
    console.error('toy-app: set TOKEN_SECRET (the proxy needs the same one)');
    process.exit(2);
  }
  startToyApp({ tokenSecret: secret, port: Number(process.env.TOY_APP_PORT ?? 8081) }).then(
    (r) => console.error(`toy-app listening on ${r.url}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
