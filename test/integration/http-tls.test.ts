import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildMemoryStore, buildModel, buildPipeline } from '../../src/cli/context';
import { loadSettings } from '../../src/config/load';
import type { Settings } from '../../src/config/schema';
import { MemorySink } from '../../src/emit/files';
import { registerEvaluateRoute } from '../../src/http/evaluate';
import { resolveHttpSecurity } from '../../src/http/security';
import { buildServer } from '../../src/http/server';
import { silentLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics/metrics';
import type { Scorer } from '../../src/model/scorer';
import { createBatchHandler } from '../../src/pipeline/handler';

/** A CA, a server certificate for 127.0.0.1 and two client certificates (one from another CA), by openssl. */
function makePki(dir: string): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) =>
    run(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
    );
  const leaf = (name: string, signer: string, ext?: string) => {
    run(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    if (ext) fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${signer}.pem`,
      '-CAkey',
      `${signer}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      ...(ext ? ['-extfile', `${name}.ext`] : []),
    );
  };
  ca('ca');
  ca('other-ca');
  leaf('server', 'ca', 'subjectAltName=IP:127.0.0.1\n');
  leaf('proxy', 'ca');
  leaf('intruder', 'other-ca');
}

describe('inline API over HTTPS with client certificates (mTLS)', function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-tls-'));
  const file = (name: string) => path.join(dir, name);
  let settings: Settings;
  let scorer: Scorer;
  let server: FastifyInstance;
  let port = 0;

  before(async () => {
    makePki(dir);
    settings = loadSettings({
      env: {},
      overrides: {
        http: {
          port: 0,
          tlsCert: file('server.pem'),
          tlsKey: file('server.key'),
          tlsCa: file('ca.pem'),
          clientCerts: 'verify',
        },
      },
    });
    scorer = await buildModel(settings, silentLogger());
    const metrics = createMetrics();
    const handler = createBatchHandler({
      process: buildPipeline({
        settings,
        store: buildMemoryStore(settings),
        model: () => scorer,
        format: 'avro',
        allowJson: false,
      }),
      sink: new MemorySink(),
      emitAllow: false,
      source: 'http',
      metrics,
    });
    const security = resolveHttpSecurity(settings.http);
    assert.ok(security.https);
    server = buildServer({
      registry: metrics.registry,
      readiness: [],
      https: security.https,
      routes: [
        (app) =>
          registerEvaluateRoute(app, {
            handler,
            publish: true,
            publishAllow: false,
            tokens: security.tokens,
            clientCerts: security.clientCerts,
            maxBytes: settings.input.maxRecordBytes,
            maxBatch: 16,
            ready: () => true,
            metrics,
            log: silentLogger(),
          }),
      ],
    });
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.server.address() as { port: number }).port;
  });

  after(async () => {
    await server?.close();
    scorer?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function post(path_: string, client?: string): Promise<{ status: number; body: string }> {
    const action = {
      event_id: randomUUID(),
      ts: Date.now(),
      session_id: 'tls-session',
      user_id: 'alice',
      principal_type: 'EMPLOYEE',
      app: 'toy-crm',
      action: 'view',
      resource: null,
      records: null,
      mfa: null,
      client: {
        ip: '73.22.10.5',
        asn: 7922,
        country: 'US',
        lat: null,
        lon: null,
        user_agent: 'Mozilla/5.0',
        ja4: null,
        device_id: null,
        accept_language: null,
      },
    };
    const body = JSON.stringify(action);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path: path_,
          method: path_ === '/healthz' ? 'GET' : 'POST',
          ca: fs.readFileSync(file('ca.pem')),
          ...(client
            ? { cert: fs.readFileSync(file(`${client}.pem`)), key: fs.readFileSync(file(`${client}.key`)) }
            : {}),
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      if (path_ !== '/healthz') req.write(body);
      req.end();
    });
  }

  it('a client certificate from the configured CA is enough; none, or one from another CA, gets 401', async () => {
    const ok = await post('/v1/evaluate', 'proxy');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as { decision: string }).decision, 'ALLOW');
    assert.equal((await post('/v1/evaluate')).status, 401);
    assert.equal((await post('/v1/evaluate', 'intruder')).status, 401);
    // /healthz and /metrics stay reachable without a certificate (Prometheus, probes).
    assert.equal((await post('/healthz')).status, 200);
  });

  it('refuses at start-up what would not work or would be open, naming the setting', () => {
    assert.throws(
      () => loadSettings({ env: {}, overrides: { http: { tlsCert: file('server.pem') } } }),
      /http\.tlsKey.*both http\.tlsCert and http\.tlsKey/,
    );
    assert.throws(
      () => loadSettings({ env: {}, overrides: { http: { clientCerts: 'verify' } } }),
      /http\.clientCerts.*needs HTTPS/,
    );
    assert.throws(
      () => loadSettings({ env: {}, overrides: { http: { host: '0.0.0.0' } } }),
      /http\.tokens.*would answer anyone on 0\.0\.0\.0/,
    );
    assert.throws(
      () => loadSettings({ env: {}, overrides: { http: { tokens: 'short' } } }),
      /at least 16 characters/,
    );
    assert.throws(
      () =>
        loadSettings({
          env: { RISK_STREAM_HTTP_TOKENS: 'x'.repeat(20) },
          overrides: { http: { port: 'nope' } },
        }),
      (err: Error) => !/x{20}/.test(err.message),
    );
    loadSettings({ env: {}, overrides: { http: { host: '0.0.0.0', evaluate: false } } });
    loadSettings({ env: {}, overrides: { http: { host: '0.0.0.0', tokens: 'y'.repeat(20) } } });
  });
});
