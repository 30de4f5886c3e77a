import fs from 'node:fs';
import { isIP } from 'node:net';
import type { Settings } from '../config/schema';
import { RiskStreamError } from '../errors';

/** What the HTTP server needs to authenticate inline-API callers and to serve HTTPS. */
export interface HttpSecurity {
  tokens: string[];
  clientCerts: boolean;
  https: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert: boolean; rejectUnauthorized: false } | null;
}

const bad = (setting: string, env: string, why: string) =>
  new RiskStreamError('CONFIG_INVALID', `invalid setting ${setting} (env ${env}): ${why}`);

function readFile(file: string, setting: string, env: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw bad(setting, env, `cannot read ${file}: ${(err as Error).message}`);
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const isLoopback = (host: string) => LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith('127.'));

/**
 * Reads the token file and the TLS files and checks the combination. Fails start-up naming the
 * setting: a certificate without its key, client certificates without a CA, or an inline API that
 * would answer anyone on a non-loopback address.
 */
export function resolveHttpSecurity(http: Settings['http']): HttpSecurity {
  const tokens = (http.tokens ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (http.tokensFile !== undefined) {
    const text = readFile(http.tokensFile, 'http.tokensFile', 'RISK_STREAM_HTTP_TOKENS_FILE').toString(
      'utf8',
    );
    for (const line of text.split('\n')) {
      const t = line.replace(/#.*/, '').trim();
      if (t) tokens.push(t);
    }
  }
  if (tokens.some((t) => t.length < 16)) {
    throw bad('http.tokens', 'RISK_STREAM_HTTP_TOKENS', 'every bearer token must be at least 16 characters');
  }
  if ((http.tlsCert === undefined) !== (http.tlsKey === undefined)) {
    const missing = http.tlsCert === undefined ? 'http.tlsCert' : 'http.tlsKey';
    throw bad(
      missing,
      missing === 'http.tlsCert' ? 'RISK_STREAM_HTTP_TLS_CERT' : 'RISK_STREAM_HTTP_TLS_KEY',
      'HTTPS needs both http.tlsCert and http.tlsKey',
    );
  }
  const clientCerts = http.clientCerts === 'verify';
  if (clientCerts && (http.tlsCert === undefined || http.tlsCa === undefined)) {
    throw bad(
      'http.clientCerts',
      'RISK_STREAM_HTTP_CLIENT_CERTS',
      '`verify` needs HTTPS (http.tlsCert, http.tlsKey) and http.tlsCa',
    );
  }
  const https =
    http.tlsCert !== undefined && http.tlsKey !== undefined
      ? {
          cert: readFile(http.tlsCert, 'http.tlsCert', 'RISK_STREAM_HTTP_TLS_CERT'),
          key: readFile(http.tlsKey, 'http.tlsKey', 'RISK_STREAM_HTTP_TLS_KEY'),
          ...(http.tlsCa !== undefined
            ? { ca: readFile(http.tlsCa, 'http.tlsCa', 'RISK_STREAM_HTTP_TLS_CA') }
            : {}),
          // Verified per request (/v1/evaluate), so /metrics and /readyz stay reachable without one.
          requestCert: clientCerts,
          rejectUnauthorized: false as const,
        }
      : null;
  if (http.enabled && http.evaluate && tokens.length === 0 && !clientCerts && !isLoopback(http.host)) {
    throw bad(
      'http.tokens',
      'RISK_STREAM_HTTP_TOKENS',
      `the inline API (http.evaluate) would answer anyone on ${http.host}: configure bearer tokens (http.tokens or http.tokensFile) or client certificates (http.clientCerts), or turn http.evaluate off`,
    );
  }
  return { tokens, clientCerts, https };
}
