import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { loadSigningKey } from '../caep/keys';
import type { Settings } from '../config/schema';
import { RiskStreamError } from '../errors';
import { maskUrl, silentLogger } from '../log';
import { shadowVersion } from '../model/registry';
import { builtinPolicy, loadPolicyFile } from '../policy/compile';
import { buildModel, loadModel, modelsDirOf } from './context';
import {
  describeNetworkError,
  fail,
  ok,
  report,
  warn,
  type CheckResult,
  type DoctorReport,
} from './diagnose';
import { checkKafka, checkRedis, ms } from './doctor-services';

/**
 * `risk-stream doctor`: checks what `run` needs — valid settings, Kafka and the topics, Redis, the
 * model and the policy, CAEP receivers and the signing key, a free HTTP port — each within a bounded
 * time, and says in plain words what is wrong and what to do.
 */

export interface DoctorOptions {
  /** Loads the settings exactly as `run` does; throws CONFIG_INVALID naming a bad setting. */
  load: () => Settings;
  /** Where settings came from, for the settings line (names only, never values). */
  sources: { file?: string | undefined; env: string[]; flags: string[] };
  /** Most time one network step may take (connect, a request). */
  timeoutMs: number;
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  let settings: Settings;
  try {
    settings = opts.load();
  } catch (err) {
    if (!(err instanceof RiskStreamError)) throw err;
    return report([
      fail(
        'settings',
        err.message,
        'correct that setting where it is set (config file, RISK_STREAM_* variable or flag); the other checks need valid settings',
      ),
    ]);
  }
  const t = opts.timeoutMs;
  const local = Math.max(t, 60_000);
  // Network checks first, together: model loading would hold up the event loop and skew their timings.
  const network = await Promise.all([
    guard('kafka', 3 * t + 1000, () => checkKafka(settings, t)),
    guard('redis', 3 * t + 1000, () => checkRedis(settings.redis, t)),
    settings.caep.enabled ? guard('caep receivers', t + 1000, () => checkReceivers(settings, t)) : [],
    settings.http.enabled ? guard('http port', 2 * t + 1000, () => checkHttpPort(settings, t)) : [],
  ]);
  const model = await guard('model', local, () => checkModel(settings));
  const policy = await guard('policy', local, async () => [checkPolicy(settings)]);
  const caepKey = settings.caep.enabled
    ? await guard('caep key', local, async () => [await checkCaepKey(settings.caep)])
    : [];
  const [kafka, redis, receivers, http] = network;
  return report([
    ok('settings', describeSources(opts.sources)),
    ...kafka,
    ...redis,
    ...model,
    ...policy,
    ...caepKey,
    ...receivers,
    ...http,
  ]);
}

function describeSources(s: DoctorOptions['sources']): string {
  const parts = ['defaults'];
  if (s.file) parts.push(`config file ${s.file}`);
  if (s.env.length > 0) parts.push(`environment (${[...s.env].sort().join(', ')})`);
  if (s.flags.length > 0) parts.push(`flags (${s.flags.join(', ')})`);
  return `valid: ${parts.join(' < ')}`;
}

/** Runs one check with a deadline; a check that throws or runs out of time is a failure, never a crash. */
async function guard(name: string, ms: number, check: () => Promise<CheckResult[]>): Promise<CheckResult[]> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckResult[]>((resolve) => {
    timer = setTimeout(
      () => resolve([fail(name, `no result within ${ms} ms`, 'run it again with a longer --timeout')]),
      ms,
    );
  });
  try {
    return await Promise.race([
      check().catch((err: unknown) => [fail(name, maskUrl((err as Error).message), 'see the message above')]),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function checkModel(settings: Settings): Promise<CheckResult[]> {
  const dir = modelsDirOf(settings);
  const fix = (err: unknown) =>
    err instanceof RiskStreamError && err.code === 'FEATURE_VERSION_MISMATCH'
      ? 'promote a model trained on the features this build computes (`risk-stream models list`, `models promote <version>`), or train one (`risk-stream train`)'
      : 'check model.dir, model.name and the ACTIVE pointer (`risk-stream models list`, `risk-stream models promote <version>`)';
  const out: CheckResult[] = [];
  try {
    const m = await buildModel(settings, silentLogger());
    const from = settings.model.version ? 'pinned by model.version' : 'ACTIVE';
    out.push(
      ok(
        'model',
        `${m.name} ${m.version} (${from}) from ${dir}: features v${m.featureVersion} (${m.featureNames.length} inputs) match this build, on ${m.backend}`,
      ),
    );
  } catch (err) {
    out.push(fail('model', (err as Error).message, fix(err)));
  }
  try {
    const shadow = settings.model.shadowVersion ?? shadowVersion(dir, settings.model.name);
    if (shadow !== null) {
      const m = await loadModel(settings, shadow);
      out.push(ok('shadow model', `${m.name} ${m.version}: features v${m.featureVersion} match this build`));
    }
  } catch (err) {
    out.push(
      fail('shadow model', (err as Error).message, `${fix(err)}; or \`risk-stream models shadow --off\``),
    );
  }
  return out;
}

function checkPolicy(settings: Settings): CheckResult {
  const file = settings.policy.file;
  try {
    const p = file === undefined ? builtinPolicy() : loadPolicyFile(file);
    return ok(
      'policy',
      `${p.id} from ${file ?? 'the built-in policy (policy.file not set)'}: ${p.catalog.size} catalog app(s), ${p.rules.length} rule(s)`,
    );
  } catch (err) {
    return fail(
      'policy',
      (err as Error).message,
      `\`risk-stream policy check ${file ?? '<file>'}\` lists each problem with its line`,
    );
  }
}

/** The nearest existing folder of `path`, and whether this user may create files in it. */
async function writableAncestor(path: string): Promise<{ dir: string; writable: boolean }> {
  let dir = dirname(path);
  for (;;) {
    try {
      await access(dir, constants.F_OK);
      break;
    } catch {
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  const writable = await access(dir, constants.W_OK).then(
    () => true,
    () => false,
  );
  return { dir, writable };
}

async function checkCaepKey(caep: Settings['caep']): Promise<CheckResult> {
  const file = caep.keyFile;
  const mode = await stat(file).then(
    (s) => s.mode,
    (err: NodeJS.ErrnoException) => err,
  );
  if (mode instanceof Error) {
    if (mode.code !== 'ENOENT') {
      return fail('caep key', `caep.keyFile ${file}: cannot read: ${mode.message}`, 'fix its permissions');
    }
    const { dir, writable } = await writableAncestor(file);
    return writable
      ? warn(
          'caep key',
          `caep.keyFile ${file} does not exist: \`run\` generates an ${caep.alg} key there (mode 0600) at start-up`,
          'with several engines, give them all the same key file (receivers verify against one JWKS): generate it once and copy it',
        )
      : fail(
          'caep key',
          `caep.keyFile ${file} does not exist, and ${dir} is not writable, so \`run\` cannot generate it`,
          'put a private JWK there (or point caep.keyFile at one), or make the folder writable',
        );
  }
  try {
    const key = await loadSigningKey(file, caep.alg);
    const loose = (mode & 0o077) !== 0;
    const detail = `caep.keyFile ${file}: ${caep.alg} private key, kid ${key.kid}`;
    return loose
      ? warn(
          'caep key',
          `${detail}, but readable by others (mode ${(mode & 0o777).toString(8)})`,
          `chmod 600 ${file}`,
        )
      : ok('caep key', detail);
  } catch (err) {
    return fail(
      'caep key',
      (err as Error).message,
      'point caep.keyFile at a private JWK for caep.alg, or move the file away to have a new key generated (receivers then fetch the new JWKS)',
    );
  }
}

/** Each receiver: connects and makes an HTTP request; any HTTP answer means it can be reached. */
async function checkReceivers(settings: Settings, t: number): Promise<CheckResult[]> {
  const receivers = settings.caep.receivers;
  if (receivers.length === 0) {
    return [
      warn(
        'caep receivers',
        'caep.enabled, but caep.receivers is empty: SETs are signed and stored, never pushed',
        'add receivers to caep.receivers (JSON array of {url, audience, authorization?})',
      ),
    ];
  }
  return Promise.all(
    receivers.map(async (r): Promise<CheckResult> => {
      const shown = maskUrl(r.url);
      const name = `caep receiver ${r.audience}`;
      const u = new URL(r.url);
      if (u.username || u.password) {
        return fail(
          name,
          `${shown} carries credentials in the URL, which the HTTP client refuses to send`,
          'remove them from the URL and put them in the receiver\'s authorization (e.g. "Basic …" or "Bearer …")',
        );
      }
      const started = performance.now();
      try {
        // No credentials are sent: the answer's status does not matter, only that there is one.
        const res = await fetch(r.url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(t) });
        await res.body?.cancel().catch(() => undefined);
        return ok(
          name,
          `${shown} answers (HTTP ${res.status} to a GET, in ${ms(performance.now() - started)})`,
        );
      } catch (err) {
        return fail(
          name,
          `cannot reach ${shown} (${describeNetworkError(err, t)})`,
          'check the URL in caep.receivers, the receiver, and the network path (proxy, firewall, TLS trust) from this host',
        );
      }
    }),
  );
}

async function checkHttpPort(settings: Settings, t: number): Promise<CheckResult[]> {
  const { host, port } = settings.http;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const server = createServer();
    server.once('error', resolve);
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
  if (err === null)
    return [
      ok('http port', port === 0 ? `${host}: any free port (http.port 0)` : `${where} is free to bind`),
    ];
  if (err.code === 'EADDRINUSE') {
    const engine = await fetch(`http://${where}/healthz`, { signal: AbortSignal.timeout(t) })
      .then((r) => r.json() as Promise<{ status?: string }>)
      .then((b) => b.status === 'ok')
      .catch(() => false);
    return [
      fail(
        'http port',
        `${where} is in use${engine ? ' by a risk-stream (it answers /healthz)' : ''}`,
        'stop what listens there, or choose another http.port (env RISK_STREAM_HTTP_PORT, flag --port)',
      ),
    ];
  }
  const why: Record<string, string> = {
    EADDRNOTAVAIL: `no network interface here has the address ${host}`,
    EACCES: `binding ${where} needs privileges (ports below 1024)`,
    ENOTFOUND: `host name ${host} not found`,
  };
  return [
    fail(
      'http port',
      `cannot listen on ${where}: ${why[err.code ?? ''] ?? err.message}`,
      'correct http.host / http.port (env RISK_STREAM_HTTP_HOST, RISK_STREAM_HTTP_PORT)',
    ),
  ];
}
