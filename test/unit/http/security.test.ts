import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Registry } from 'prom-client';
import { loadSettings } from '../../../src/config/load';
import { registerInvestigationRoutes } from '../../../src/http/investigate';
import { bearer, resolveHttpSecurity, tokenMatcher } from '../../../src/http/security';
import { buildServer } from '../../../src/http/server';
import { silentLogger } from '../../../src/log';
import { MemorySessionStore } from '../../../src/state/memory';

/**
 * Who may read the analyst API and call /admin/*: the engine's server as `run` builds it (the
 * settings resolved by resolveHttpSecurity), requests injected.
 */

const ANALYST = 'analyst-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef-xyz';

/** The engine's HTTP server for these http settings, with the analyst API and a reload route. */
function engineServer(http: Record<string, unknown>): { app: FastifyInstance; reloads: () => number } {
  const security = resolveHttpSecurity(loadSettings({ env: {}, overrides: { http } }).http);
  let reloads = 0;
  const app = buildServer({
    registry: new Registry(),
    readiness: [],
    adminTokens: security.adminTokens,
    analystTokens: security.analystTokens,
    adminOpen: security.adminOpen,
    reloadPolicy: () => ({ reloaded: ++reloads }),
    routes: [
      (a) =>
        registerInvestigationRoutes(a, {
          store: new MemorySessionStore(),
          analystTokens: security.analystTokens,
          adminTokens: security.adminTokens,
          open: security.analystOpen,
          log: silentLogger(),
        }),
    ],
  });
  return { app, reloads: () => reloads };
}

const READS = ['/v1/decisions', '/v1/sessions/s-1', '/v1/sessions/s-1/timeline', '/v1/decisions/stream'];
/** What an authorized read answers (the stream is not injected authorized: it never ends). */
const AUTHORIZED: Record<string, number> = {
  '/v1/decisions': 200,
  '/v1/sessions/s-1': 404,
  '/v1/sessions/s-1/timeline': 200,
};

const withToken = (url: string, token: string | null, method: 'GET' | 'POST' = 'GET'): InjectOptions => ({
  method,
  url,
  headers: token === null ? {} : { authorization: `Bearer ${token}` },
});

describe('http/security: tokens on the analyst API and /admin/*', () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  const serve = (http: Record<string, unknown>) => {
    const s = engineServer(http);
    apps.push(s.app);
    return s;
  };

  describe('with analyst and admin tokens configured', () => {
    const http = { analystTokens: ANALYST, adminTokens: ADMIN };

    it('no token, a wrong token or another scheme: 401 with www-authenticate and no-store', async () => {
      const { app } = serve(http);
      const wrong = [
        null,
        'not-a-token-but-long-enough',
        ANALYST.slice(0, -1),
        `${ANALYST}x`,
        ANALYST.toUpperCase(),
        `${ANALYST.slice(0, -1)}F`,
        '',
      ];
      for (const url of READS) {
        for (const token of wrong) {
          const r = await app.inject(withToken(url, token));
          assert.equal(r.statusCode, 401, `${url} with ${token}`);
          assert.equal(r.headers['www-authenticate'], 'Bearer realm="risk-stream"');
          assert.equal(r.headers['cache-control'], 'no-store');
          assert.equal(r.json<{ error: string }>().error, 'UNAUTHORIZED');
        }
        const basic = await app.inject({ url, headers: { authorization: `Basic ${ANALYST}` } });
        assert.equal(basic.statusCode, 401, `${url} with Basic`);
      }
    });

    it('an analyst token and an admin token both read (the scheme in any case), answered no-store', async () => {
      const { app } = serve(http);
      for (const [url, status] of Object.entries(AUTHORIZED)) {
        for (const token of [ANALYST, ADMIN]) {
          const r = await app.inject(withToken(url, token));
          assert.equal(r.statusCode, status, `${url} with ${token}`);
          assert.equal(r.headers['cache-control'], 'no-store');
        }
        const lower = await app.inject({ url, headers: { authorization: `bearer  ${ANALYST} ` } });
        assert.equal(lower.statusCode, status, `${url}: lower-case scheme, extra spaces`);
      }
    });

    it('/admin/*: an admin token reloads, an analyst token is 403, none or an unknown one 401', async () => {
      const { app, reloads } = serve(http);
      const reload = (token: string | null, url = '/admin/policy/reload') =>
        app.inject(withToken(url, token, 'POST'));

      const ok = await reload(ADMIN);
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { reloaded: 1 });

      const analyst = await reload(ANALYST);
      assert.equal(analyst.statusCode, 403);
      assert.equal(analyst.json<{ error: string }>().error, 'FORBIDDEN');
      assert.equal(analyst.headers['www-authenticate'], undefined, 'a valid token is not asked again');

      for (const token of [null, 'unknown-token-0123456789', `${ADMIN}x`]) {
        const r = await reload(token);
        assert.equal(r.statusCode, 401, String(token));
        assert.equal(r.headers['www-authenticate'], 'Bearer realm="risk-stream-admin"');
        assert.equal(r.headers['cache-control'], 'no-store');
      }
      // The router decodes the path: a percent-encoded /admin/ is still /admin/.
      assert.equal((await reload(ANALYST, '/%61dmin/policy/reload')).statusCode, 403);
      assert.equal((await reload(null, '/admin/policy/reload?x=1')).statusCode, 401);
      assert.equal(reloads(), 1, 'only the admin token reloaded');
    });

    it('with admin tokens only: they read the analyst API; /healthz and /metrics take no token', async () => {
      const { app } = serve({ adminTokens: ADMIN });
      assert.equal((await app.inject(withToken('/v1/decisions', ADMIN))).statusCode, 200);
      assert.equal((await app.inject(withToken('/v1/decisions', null))).statusCode, 401);
      assert.equal((await app.inject(withToken('/healthz', null))).statusCode, 200);
      assert.equal((await app.inject(withToken('/metrics', null))).statusCode, 200);
    });
  });

  describe('without tokens', () => {
    it('open on a loopback address: the API answers without a token, and /admin/* too', async () => {
      for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
        const security = resolveHttpSecurity(loadSettings({ env: {}, overrides: { http: { host } } }).http);
        assert.equal(security.analystOpen, true, host);
      }
      const { app, reloads } = serve({ host: '127.0.0.1' });
      for (const [url, status] of Object.entries(AUTHORIZED)) {
        const r = await app.inject(withToken(url, null));
        assert.equal(r.statusCode, status, url);
        assert.equal(r.headers['cache-control'], 'no-store');
      }
      assert.equal((await app.inject(withToken('/admin/policy/reload', null, 'POST'))).statusCode, 200);
      assert.equal(reloads(), 1);
    });

    it('on a non-loopback address the server starts but every analyst request is 401, saying why', async () => {
      const security = resolveHttpSecurity(
        loadSettings({ env: {}, overrides: { http: { host: '0.0.0.0', evaluate: false } } }).http,
      );
      assert.equal(security.analystOpen, false);
      const { app } = serve({ host: '0.0.0.0', evaluate: false });
      for (const url of READS) {
        for (const token of [null, ANALYST]) {
          const r = await app.inject(withToken(url, token));
          assert.equal(r.statusCode, 401, `${url} with ${token}`);
          assert.equal(r.headers['www-authenticate'], 'Bearer realm="risk-stream"');
          assert.match(r.json<{ message: string }>().message, /no analyst or admin tokens are configured/);
        }
      }
    });

    it('on a non-loopback address without admin tokens /admin/* is 401 too, and nothing reloads', async () => {
      const { app, reloads } = serve({ host: '0.0.0.0', evaluate: false, analystTokens: ANALYST });
      for (const token of [null, ANALYST, ADMIN]) {
        const r = await app.inject(withToken('/admin/policy/reload', token, 'POST'));
        assert.equal(r.statusCode, 401, `with ${token}`);
        assert.match(r.json<{ message: string }>().message, /set http\.adminTokens/);
      }
      assert.equal(reloads(), 0);
      // The analyst API answers its own tokens meanwhile.
      assert.equal((await app.inject(withToken('/v1/decisions', ANALYST))).statusCode, 200);
    });

    it('a token shorter than 16 characters fails start-up naming the setting', () => {
      for (const [setting, http] of [
        ['http.analystTokens', { analystTokens: `${ANALYST},short` }],
        ['http.adminTokens', { adminTokens: 'short' }],
      ] as const) {
        assert.throws(
          () => resolveHttpSecurity(loadSettings({ env: {}, overrides: { http } }).http),
          (err: Error & { code?: string }) =>
            err.code === 'CONFIG_INVALID' && err.message.includes(setting) && !err.message.includes(ANALYST),
        );
      }
    });
  });

  describe('tokenMatcher and bearer', () => {
    it('tokenMatcher accepts exactly a configured token, whatever the lengths presented', () => {
      const matches = tokenMatcher([ANALYST, ADMIN]);
      assert.equal(matches(ANALYST), true);
      assert.equal(matches(ADMIN), true);
      for (const other of [
        '',
        'a',
        ANALYST.slice(0, 16),
        `${ANALYST}${ADMIN}`,
        ` ${ANALYST}`,
        'x'.repeat(10_000),
      ]) {
        assert.equal(matches(other), false, other.slice(0, 40));
      }
      assert.equal(tokenMatcher([])(ANALYST), false, 'no tokens: nothing matches');
    });

    it('bearer reads the token of a Bearer authorization header only', () => {
      assert.equal(bearer(`Bearer ${ANALYST}`), ANALYST);
      assert.equal(bearer(`bearer ${ANALYST}`), ANALYST);
      assert.equal(bearer(`BEARER   ${ANALYST}  `), ANALYST);
      for (const header of [
        undefined,
        '',
        'Bearer',
        'Bearer ',
        'Bearer    ',
        `Basic ${ANALYST}`,
        ANALYST,
        `Bearer${ANALYST}`,
      ]) {
        assert.equal(bearer(header), null, String(header));
      }
    });
  });
});
