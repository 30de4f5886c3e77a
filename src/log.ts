import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Credentials in a URL masked: the password of `scheme://user:password@host` (a user part alone,
 * often a token, entirely) and the values of query parameters named like a secret.
 */
export function maskUrl(url: string): string {
  return url
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s"]*)@/gi, (_m, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return `${scheme}${colon < 0 ? '***' : `${userinfo.slice(0, colon)}:***`}@`;
    })
    .replace(
      /([?&][^=&#\s"]*(?:token|secret|password|passwd|pwd|key|auth|sig)[^=&#\s"]*=)[^&#\s"]+/gi,
      '$1***',
    );
}

/** Keys whose value is a secret: at the top of a log line or nested up to two objects deep. */
const SECRET_KEYS = [
  'password',
  'token',
  'tokens',
  'analystTokens',
  'adminTokens',
  'authorization',
  'cookie',
  'secret',
  'privateKey',
  'sasl',
  'saslPassword',
  // Client TLS options, as built for kafkajs and ioredis, may hold a private key.
  'ssl',
  'tls',
  'jwk',
];
/** Keys holding a URL: logged with their credentials masked rather than hidden. */
const URL_KEYS = ['url', 'redisUrl'];

const REDACT_PATHS = [
  ...[...SECRET_KEYS, ...URL_KEYS].flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  // CAEP receivers (settings.caep.receivers, or the list logged at start-up)
  ...['receivers', '*.receivers', 'caep.receivers', '*.caep.receivers'].flatMap((r) => [
    `${r}[*].authorization`,
    `${r}[*].url`,
  ]),
];

/** What a redacted value becomes: a URL keeps its host with credentials masked; a secret is replaced. */
function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? '';
  if (URL_KEYS.includes(key)) return typeof value === 'string' ? maskUrl(value) : value;
  return '[redacted]';
}

/**
 * Structured JSON logs on stderr (stdout is kept for command output such as replay summaries).
 * Fields that may carry secrets (tokens, passwords, Authorization headers, keys) are redacted
 * wherever they appear, and URLs have their credentials masked.
 */
export function createLogger(
  level: string,
  name = 'risk-stream',
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: false }),
): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACT_PATHS, censor },
      base: { pid: process.pid },
    },
    destination,
  );
}

/** A logger that drops everything: for tests and library use. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
