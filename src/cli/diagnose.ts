import { withEnv } from '../config/connections';
import { maskUrl } from '../log';

/**
 * The pure half of `risk-stream doctor`: check results, the report and its text, and what a
 * network, Kafka or Redis error means in plain words.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  status: CheckStatus;
  /** What was checked, e.g. `kafka`, `redis eviction`, `caep receiver https://idp.example.com`. */
  name: string;
  /** What was found, in plain words (never a secret: URLs are masked). */
  detail: string;
  /** For a warning or a failure: what to do about it. */
  fix?: string;
}

export interface DoctorReport {
  /** Nothing failed (warnings allowed). */
  ok: boolean;
  summary: Record<CheckStatus, number>;
  checks: CheckResult[];
}

export const ok = (name: string, detail: string): CheckResult => ({ status: 'ok', name, detail });
export const warn = (name: string, detail: string, fix: string): CheckResult => ({
  status: 'warn',
  name,
  detail,
  fix,
});
export const fail = (name: string, detail: string, fix: string): CheckResult => ({
  status: 'fail',
  name,
  detail,
  fix,
});

export function report(checks: CheckResult[]): DoctorReport {
  const summary: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0 };
  for (const c of checks) summary[c.status]++;
  return { ok: summary.fail === 0, summary, checks };
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok', warn: 'warn', fail: 'FAIL' };

/** One line per check (`ok` / `warn` / `FAIL`, name, detail), the fix below it, then a summary line. */
export function formatReport(r: DoctorReport): string {
  const width = Math.max(14, ...r.checks.map((c) => c.name.length)) + 2;
  const indent = ' '.repeat(6 + width);
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(`${LABEL[c.status].padEnd(6)}${c.name.padEnd(width)}${c.detail}`);
    if (c.fix) lines.push(`${indent}fix: ${c.fix}`);
  }
  const { ok: good, warn: warned, fail: failed } = r.summary;
  const total = good + warned + failed;
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  lines.push(
    failed > 0
      ? `summary: ${plural(failed, 'check')} failed, ${plural(warned, 'warning')}, ${good} ok`
      : warned > 0
        ? `summary: nothing failed; ${plural(warned, 'warning')}, ${good} ok`
        : `summary: all ${plural(total, 'check')} ok`,
  );
  return `${lines.join('\n')}\n`;
}

/** `host:port` (or `[v6]:port`) split; null when there is no usable port. */
export function hostPort(address: string): { host: string; port: number } | null {
  const i = address.lastIndexOf(':');
  if (i <= 0) return null;
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (DNS)',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed by the other side',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  UND_ERR_SOCKET: 'connection closed by the other side',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed and not trusted here',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate chain ends in a CA not trusted here',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate is not signed by a CA trusted here',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its TLS certificate is not signed by a CA trusted here',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate does not name this host',
  ERR_SSL_WRONG_VERSION_NUMBER: 'TLS handshake failed: the port does not speak TLS',
  EPROTO: 'TLS handshake failed',
};
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

/** The first error code on an error or its causes (`ECONNREFUSED`, `CERT_HAS_EXPIRED`, …). */
function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; depth++) {
    const { code, name, message, cause } = e as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    if (name === 'TimeoutError' || name === 'AbortError') return 'ETIMEDOUT';
    if (typeof code === 'string' && code) return code;
    const inMessage =
      typeof message === 'string' ? /\b(E[A-Z]{3,}|ERR_[A-Z_]+)\b/.exec(message)?.[1] : undefined;
    if (inMessage) return inMessage;
    e = cause;
  }
  return undefined;
}

/** A connection error in plain words: "connection refused", "no answer within 3000 ms", … */
export function describeNetworkError(err: unknown, timeoutMs: number): string {
  const code = errorCode(err);
  if (code && TIMEOUT_CODES.has(code)) return `no answer within ${timeoutMs} ms`;
  if (code && NETWORK_REASONS[code]) return NETWORK_REASONS[code];
  // No known code: the messages down the cause chain (e.g. fetch's "fetch failed: bad port").
  const messages: string[] = [];
  for (let e = err, depth = 0; e && depth < 5; depth++, e = (e as { cause?: unknown }).cause) {
    messages.push(e instanceof Error ? e.message : String(e));
  }
  return maskUrl(messages.join(': '));
}

const LISTENER =
  "the listener's protocol decides the settings: PLAINTEXT none, SSL kafka.ssl, SASL_PLAINTEXT kafka.saslMechanism, SASL_SSL both";

/** A kafkajs error in plain words, with what to do. */
export function explainKafkaError(
  err: unknown,
  brokers: string,
  timeoutMs: number,
): { detail: string; fix: string } {
  let e = err as { name?: string; message?: string; type?: string; cause?: unknown } | undefined;
  // kafkajs wraps the last attempt's error.
  while (e?.name === 'KafkaJSNumberOfRetriesExceeded' && e.cause) e = e.cause as typeof e;
  const name = e?.name ?? '';
  const message = maskUrl(e?.message ?? String(err));
  const type = e?.type ?? '';
  if (name === 'KafkaJSSASLAuthenticationError' || /SASL/.test(type)) {
    return {
      detail: `Kafka at ${brokers} refused SASL authentication (${message})`,
      fix: `check the SASL user, password and mechanism (kafka.saslUsername, kafka.saslPassword or kafka.saslPasswordFile, kafka.saslMechanism); ${LISTENER}`,
    };
  }
  if (/AUTHORIZATION_FAILED/.test(type)) {
    return {
      detail: `Kafka at ${brokers} answered, but this client is not authorized (${type})`,
      fix: `grant kafka.clientId describe access to the cluster and topics (and create, for the output topics \`run\` creates)`,
    };
  }
  if (name === 'KafkaJSRequestTimeoutError' || name === 'KafkaJSConnectionClosedError') {
    return {
      detail: `connected to ${brokers}, but got no Kafka answer within ${timeoutMs} ms (${message})`,
      fix: `check that this is a Kafka port: a TLS or SASL listener drops a client that does not speak its protocol like this; ${LISTENER}`,
    };
  }
  if (name === 'KafkaJSConnectionError' || errorCode(e) !== undefined) {
    return {
      detail: `cannot reach Kafka at ${brokers} (${describeNetworkError(e, timeoutMs)})`,
      fix: 'start the broker, or correct kafka.brokers (env RISK_STREAM_KAFKA_BROKERS, flag --brokers)',
    };
  }
  return { detail: `Kafka at ${brokers}: ${message}`, fix: 'see the broker log for the reason' };
}

/** Error codes of a TLS certificate this host does not accept (expired, untrusted, another name). */
const CERT_CODES =
  /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID$)/;

/**
 * A Redis connection error in plain words, with what to do. `url` is already masked;
 * `credentialsFrom` names the settings the user name and password came from (none: no credentials).
 */
export function explainRedisError(
  err: unknown,
  url: string,
  timeoutMs: number,
  credentialsFrom: readonly string[] = [],
): { detail: string; fix: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (/^WRONGPASS/.test(message)) {
    const from = credentialsFrom.length > 0 ? credentialsFrom : ['redis.url'];
    return {
      detail: `Redis at ${url} refused the user name or password (WRONGPASS)`,
      fix: `correct ${withEnv(from)}; redis.username and redis.password (or redis.passwordFile) override the user and password in redis.url`,
    };
  }
  if (/^NOAUTH/.test(message)) {
    return {
      detail: `Redis at ${url} requires a password (NOAUTH)`,
      fix: `set ${withEnv(['redis.password'])} or redis.passwordFile, and redis.username for an ACL user; or put them in redis.url (redis://user:password@host:port)`,
    };
  }
  const code = errorCode(err);
  if (code !== undefined && CERT_CODES.test(code)) {
    return {
      detail: `cannot reach Redis at ${url} (${describeNetworkError(err, timeoutMs)})`,
      fix: `set ${withEnv(['redis.tlsCa'])} to the CA that signed the Redis server's certificate (default: the system's CAs), or correct redis.url's host to a name the certificate holds`,
    };
  }
  const tls =
    url.startsWith('rediss:') && code !== 'ECONNREFUSED' && code !== 'ENOTFOUND'
      ? '; rediss:// expects TLS on that port'
      : code === 'EPIPE' || code === 'ECONNRESET'
        ? '; is it a Redis port? (for TLS: redis.tls or a rediss:// URL)'
        : '';
  return {
    detail: `cannot reach Redis at ${url} (${describeNetworkError(err, timeoutMs)})`,
    fix: `start Redis, or correct redis.url (env RISK_STREAM_REDIS_URL, flag --redis-url)${tls}`,
  };
}

/**
 * Why a maxmemory-policy could lose session state, or null when it cannot. Session keys carry a
 * TTL (redis.idleTtl), so the volatile-* policies can evict them as well as allkeys-*.
 */
export function evictionRisk(policy: string): string | null {
  if (policy === 'noeviction') return null;
  if (policy.startsWith('allkeys-'))
    return `maxmemory-policy ${policy}: when Redis is full it evicts any key, session windows and friction state included`;
  if (policy.startsWith('volatile-'))
    return `maxmemory-policy ${policy}: when Redis is full it evicts keys with a TTL, and every session key has one (redis.idleTtl)`;
  return `maxmemory-policy ${policy}: Redis may evict session state when full`;
}

/** `field:value` lines of an INFO answer. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}
