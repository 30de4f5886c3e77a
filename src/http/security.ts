import crypto from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import type { Settings } from '../config/schema';
import { RiskStreamError } from '../errors';

/** What the HTTP server needs to authenticate inline-API callers and to serve HTTPS. */
export interface HttpSecurity {
  tokens: string[];
  /** Read-only tokens of the analyst API and page. */
  analystTokens: string[];
  /** Tokens of /admin/* (they read the analyst API too). */
  adminTokens: string[];
  /** The analyst API needs no token (none configured, loopback address). */
  analystOpen: boolean;
  /** /admin/* needs no token (no admin token configured, loopback address). */
  adminOpen: boolean;
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

/** Tokens from a comma-separated setting and its file (one per line, # comments), each 16+ characters. */
function tokenList(
  list: string | undefined,
  file: string | undefined,
  setting: string,
  env: string,
): string[] {
  const tokens = (list ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (file !== undefined) {
    const text = readFile(file, `${setting}File`, `${env}_FILE`).toString('utf8');
    for (const line of text.split('\n')) {
      const t = line.replace(/#.*/, '').trim();
      if (t) tokens.push(t);
    }
  }
  if (tokens.some((t) => t.length < 16)) {
    throw bad(setting, env, 'every bearer token must be at least 16 characters');
  }
  return tokens;
}

/**
 * Reads the token file and the TLS files and checks the combination. Fails start-up naming the
 * setting: a certificate without its key, client certificates without a CA, or an inline API that
 * would answer anyone on a non-loopback address.
 */
export function resolveHttpSecurity(http: Settings['http']): HttpSecurity {
  const tokens = tokenList(http.tokens, http.tokensFile, 'http.tokens', 'RISK_STREAM_HTTP_TOKENS');
  const analystTokens = tokenList(
    http.analystTokens,
    http.analystTokensFile,
    'http.analystTokens',
    'RISK_STREAM_HTTP_ANALYST_TOKENS',
  );
  const adminTokens = tokenList(
    http.adminTokens,
    http.adminTokensFile,
    'http.adminTokens',
    'RISK_STREAM_HTTP_ADMIN_TOKENS',
  );
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
  // Without analyst or admin tokens the analyst API answers only on a loopback address; elsewhere
  // it refuses every request (401) until tokens are configured.
  const analystOpen = analystTokens.length + adminTokens.length === 0 && isLoopback(http.host);
  const adminOpen = adminTokens.length === 0 && isLoopback(http.host);
  return { tokens, analystTokens, adminTokens, analystOpen, adminOpen, clientCerts, https };
}

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest();

/** Checks a presented token against a list in constant time per configured token. */
export function tokenMatcher(tokens: readonly string[]): (presented: string) => boolean {
  const hashes = tokens.map(sha256);
  return (presented) => {
    const h = sha256(presented);
    let ok = false;
    for (const t of hashes) ok = crypto.timingSafeEqual(h, t) || ok;
    return ok;
  };
}

/** The bearer token of an Authorization header (the scheme is case-insensitive), or null. */
export function bearer(header: string | undefined): string | null {
  const token = header === undefined ? undefined : /^Bearer (.*)$/i.exec(header)?.[1]?.trim();
  return token ? token : null;
}
