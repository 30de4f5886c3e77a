import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitUntil } from './services';

/** An ACL user of a private Redis: `--user <name> on >password ~* &* +@all`. */
export interface AclUser {
  name: string;
  password: string;
}

/** PEM files of a server certificate for 127.0.0.1 and the CA that signed it. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** A throwaway CA and a certificate for 127.0.0.1 / localhost signed by it (openssl), in `dir`. */
export function makeTestCertificates(dir: string): TlsFiles {
  const f = (name: string) => join(dir, name);
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  writeFileSync(f('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=risk-stream test CA',
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  run([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '2',
    '-extfile',
    f('san.cnf'),
  ]);
  return { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem') };
}

export interface PrivateRedis {
  readonly port: number;
  /** redis://127.0.0.1:<port> (rediss:// with TLS), no credentials. */
  readonly url: string;
  /** A client logged in as `user` (closed by stop()). */
  client(user: AclUser): Redis;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and every client opened here. */
  stop(): Promise<void>;
}

/**
 * A throwaway redis-server of this test's own on a free loopback port: no persistence, only the
 * given ACL users (the default user off); with `tls`, TLS only on that port. Never the shared Redis:
 * a test may break its own.
 */
export async function startPrivateRedis(
  users: readonly AclUser[],
  opts: { tls?: TlsFiles } = {},
): Promise<PrivateRedis> {
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  if (opts.tls) {
    const { cert, key, ca } = opts.tls;
    args.push('--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no');
    args.push('--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', ca);
  } else {
    args.push('--port', String(port));
  }
  for (const u of users) args.push('--user', u.name, 'on', `>${u.password}`, '~*', '&*', '+@all');
  args.push('--user', 'default', 'off');
  const server: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  server.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const clients: Redis[] = [];
  const url = `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  const stop = async () => {
    for (const c of clients.splice(0)) c.disconnect();
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  const up = await waitUntil(() => /Ready to accept connections/.test(output), {
    timeoutMs: 20_000,
    intervalMs: 100,
    giveUpIf: () => server.exitCode !== null,
  });
  if (!up) {
    await stop();
    throw new Error(`redis-server on port ${port} did not start:\n${output}`);
  }
  return {
    port,
    url,
    client(user) {
      const c = new Redis(url, {
        username: user.name,
        password: user.password,
        maxRetriesPerRequest: 1,
        ...(opts.tls ? { tls: { ca: readFileSync(opts.tls.ca) } } : {}),
      });
      clients.push(c);
      return c;
    },
    stop,
  };
}
