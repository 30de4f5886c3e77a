import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Registry } from 'prom-client';
import { loadSettings } from '../../../src/config/load';
import type { Decision } from '../../../src/contract';
import { registerEvaluateRoute } from '../../../src/http/evaluate';
import { registerInvestigationRoutes } from '../../../src/http/investigate';
import { resolveHttpSecurity } from '../../../src/http/security';
import { buildServer } from '../../../src/http/server';
import { silentLogger } from '../../../src/log';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics';
import type { BatchHandler } from '../../../src/pipeline/handler';
import type { BatchResult } from '../../../src/pipeline/process';
import { MemorySessionStore } from '../../../src/state/memory';

/**
 * riskstream_http_auth_failures_total: every request refused for its credentials is counted by API
 * (evaluate, analyst, admin) and status (401, 403); accepted ones are not; no token, path or
 * session id ever becomes a label value. The engine's server as `run` builds it, requests injected.
 */

const INLINE = 'inline-token-0123456789abcdef';
const ANALYST = 'analyst-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef-xyz';
const WRONG = 'wrong-token-0123456789abcdef';
const SESSION = 'sess-4f1c2a-secret-looking-id';

/** Decides every request ALLOW, without Kafka. */
const allowAll: BatchHandler = {
  async process(records) {
    const decisions = records.map((_r, i): Decision => ({
      decision_id: `d-${i}`,
      event_id: `e-${i}`,
      session_id: SESSION,
      user_id: 'u',
      app: 'app',
      event_ts: 0,
      decided_at: 0,
      decision: 'ALLOW',
      score: 0.01,
      model_version: 'test',
      reasons: [],
    }));
    return {
      outcomes: decisions.map((decision) => ({ kind: 'decision', decision, duplicate: false, rule: 'r' })),
      decisions,
      deadLetters: [],
      duplicates: 0,
    } satisfies BatchResult;
  },
  toEmit: () => [],
  emit: () => Promise.resolve(),
  handle: () => Promise.reject(new Error('not used')),
};

/** The engine's server for these http settings: inline API, analyst API, a reload route, metrics. */
function engineServer(http: Record<string, unknown>): { app: FastifyInstance; metrics: Metrics } {
  const security = resolveHttpSecurity(loadSettings({ env: {}, overrides: { http } }).http);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const app = buildServer({
    registry: metrics.registry,
    metrics,
    readiness: [],
    adminTokens: security.adminTokens,
    analystTokens: security.analystTokens,
    adminOpen: security.adminOpen,
    reloadPolicy: () => ({ reloaded: true }),
    routes: [
      (a) =>
        registerInvestigationRoutes(a, {
          store: new MemorySessionStore(),
          analystTokens: security.analystTokens,
          adminTokens: security.adminTokens,
          open: security.analystOpen,
          metrics,
          log: silentLogger(),
        }),
      (a) =>
        registerEvaluateRoute(a, {
          handler: allowAll,
          publish: false,
          publishAllow: false,
          tokens: security.tokens,
          clientCerts: security.clientCerts,
          maxBytes: 4096,
          maxBatch: 16,
          ready: () => true,
          metrics,
          log: silentLogger(),
        }),
    ],
  });
  return { app, metrics };
}

const request = (
  method: 'GET' | 'POST',
  url: string,
  token: string | null,
  body?: string,
): InjectOptions => ({
  method,
  url,
  headers: {
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
  },
  ...(body === undefined ? {} : { body }),
});

/** riskstream_http_auth_failures_total by `route/status`. */
async function failures(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.httpAuthFailures.get();
  return Object.fromEntries(values.map((v) => [`${v.labels.route}/${v.labels.status}`, v.value]));
}

describe('http: refused credentials are counted (riskstream_http_auth_failures_total)', () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  const serve = (http: Record<string, unknown>) => {
    const s = engineServer(http);
    apps.push(s.app);
    return s;
  };
  const tokens = { tokens: INLINE, analystTokens: ANALYST, adminTokens: ADMIN };

  it('every refusal that can happen is exported at 0 from the start', async () => {
    const { app, metrics } = serve(tokens);
    assert.deepEqual(await failures(metrics), {
      'evaluate/401': 0,
      'analyst/401': 0,
      'admin/401': 0,
      'admin/403': 0,
    });
    const text = (await app.inject({ url: '/metrics' })).body;
    assert.match(text, /^riskstream_http_auth_failures_total\{route="admin",status="403"\} 0$/m);
  });

  it('the inline API: no token or a wrong one is a 401 counted as evaluate; a valid one is not counted', async () => {
    const { app, metrics } = serve(tokens);
    const body = '{"event_id":"e-1"}';
    for (const token of [null, WRONG, ANALYST, ADMIN]) {
      const r = await app.inject(request('POST', '/v1/evaluate', token, body));
      assert.equal(r.statusCode, 401, String(token));
    }
    assert.equal((await app.inject(request('POST', '/v1/evaluate', INLINE, body))).statusCode, 200);
    assert.deepEqual(await failures(metrics), {
      'evaluate/401': 4,
      'analyst/401': 0,
      'admin/401': 0,
      'admin/403': 0,
    });
  });

  it('the analyst API: a 401 on any read (the live feed too) counts as analyst; analyst and admin tokens are not counted', async () => {
    const { app, metrics } = serve(tokens);
    const reads = [
      '/v1/decisions',
      `/v1/sessions/${SESSION}`,
      `/v1/sessions/${SESSION}/timeline`,
      '/v1/decisions/stream',
    ];
    for (const url of reads) {
      for (const token of [null, WRONG, INLINE]) {
        assert.equal((await app.inject(request('GET', url, token))).statusCode, 401, `${url} ${token}`);
      }
    }
    assert.equal((await app.inject(request('GET', '/v1/decisions', ANALYST))).statusCode, 200);
    assert.equal((await app.inject(request('GET', `/v1/sessions/${SESSION}`, ADMIN))).statusCode, 404);
    assert.deepEqual(await failures(metrics), {
      'evaluate/401': 0,
      'analyst/401': 12,
      'admin/401': 0,
      'admin/403': 0,
    });
  });

  it('/admin/*: no token or an unknown one is 401, an analyst token 403, each counted as admin; an admin token is not', async () => {
    const { app, metrics } = serve(tokens);
    const reload = (token: string | null, url = '/admin/policy/reload') =>
      app.inject(request('POST', url, token));
    for (const token of [null, WRONG, INLINE]) assert.equal((await reload(token)).statusCode, 401);
    assert.equal((await reload(ANALYST)).statusCode, 403);
    assert.equal((await reload(ANALYST, '/%61dmin/policy/reload')).statusCode, 403);
    assert.equal((await reload(ADMIN)).statusCode, 200);
    // Not an admin route (no such route): a 404, not a refusal.
    assert.equal((await reload(null, '/admin/nothing-here')).statusCode, 404);
    assert.deepEqual(await failures(metrics), {
      'evaluate/401': 0,
      'analyst/401': 0,
      'admin/401': 3,
      'admin/403': 2,
    });
  });

  it('a non-loopback address without admin tokens: every /admin/* request is a counted 401', async () => {
    const { app, metrics } = serve({ host: '0.0.0.0', tokens: INLINE, analystTokens: ANALYST });
    for (const token of [null, ANALYST, WRONG]) {
      assert.equal((await app.inject(request('POST', '/admin/policy/reload', token))).statusCode, 401);
    }
    assert.equal((await failures(metrics))['admin/401'], 3);
  });

  it('open on loopback (no tokens): nothing is refused, nothing counted', async () => {
    const { app, metrics } = serve({});
    assert.equal((await app.inject(request('GET', '/v1/decisions', WRONG))).statusCode, 200);
    assert.equal((await app.inject(request('POST', '/admin/policy/reload', WRONG))).statusCode, 200);
    assert.equal(
      (await app.inject(request('POST', '/v1/evaluate', WRONG, '{"event_id":"e"}'))).statusCode,
      200,
    );
    assert.ok(Object.values(await failures(metrics)).every((n) => n === 0));
  });

  it('label values stay within route x status: no token, path or session id reaches /metrics', async () => {
    const { app, metrics } = serve(tokens);
    const presented = [WRONG, `${ANALYST}x`, 'Basic dXNlcjpwYXNzd29yZA==', `${SESSION}-as-token`];
    for (const token of presented) {
      await app.inject(request('GET', `/v1/sessions/${SESSION}/timeline?limit=5`, token));
      await app.inject(request('POST', `/admin/policy/reload?session=${SESSION}`, token));
      await app.inject(request('POST', '/v1/evaluate', token, '{}'));
    }
    const { values } = await metrics.httpAuthFailures.get();
    for (const v of values) {
      assert.ok(['evaluate', 'analyst', 'admin'].includes(String(v.labels.route)), String(v.labels.route));
      assert.ok(['401', '403'].includes(String(v.labels.status)), String(v.labels.status));
    }
    const text = (await app.inject({ url: '/metrics' })).body;
    for (const s of [...presented, SESSION, 'dXNlcjpwYXNzd29yZA', '/v1/sessions', 'policy/reload'])
      assert.ok(!text.includes(s), `${s} in /metrics`);
  });
});
