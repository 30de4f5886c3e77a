import { loadNetworkClasses } from '../features/networks';
import { readFileSync } from 'node:fs';
import { RiskStreamError } from '../errors';
import { resolveHttpSecurity } from '../http/security';
import { maskUrl } from '../log';
import { resolveKafkaSecurity, resolveRedisConnection } from './connections';
import { loadPolicyFile } from '../policy/compile';
import { settingsSchema, type Settings } from './schema';

export const ENV_PREFIX = 'RISK_STREAM_';

/** `kafka.actionsTopic` -> `RISK_STREAM_KAFKA_ACTIONS_TOPIC` */
export function envName(path: readonly (string | number)[]): string {
  return (
    ENV_PREFIX +
    path
      .map((p) =>
        String(p)
          .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
          .toUpperCase(),
      )
      .join('_')
  );
}

type Raw = Record<string, Record<string, unknown>>;

/** Every leaf path of the settings, read off the schema's sections (optional leaves included). */
export function settingPaths(): [string, string][] {
  const paths: [string, string][] = [];
  for (const [section, schema] of Object.entries(settingsSchema.shape)) {
    let inner: unknown = schema;
    // Unwrap .prefault()/.default() until the section's object schema.
    while (inner && !(inner as { shape?: unknown }).shape) {
      inner = (inner as { def?: { innerType?: unknown } }).def?.innerType;
    }
    const shape = (inner as { shape?: Record<string, unknown> } | undefined)?.shape ?? {};
    for (const leaf of Object.keys(shape)) paths.push([section, leaf]);
  }
  return paths;
}

export interface LoadOptions {
  /** Path of a JSON config file. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Settings from command-line flags: highest precedence. */
  overrides?: Record<string, Record<string, unknown>>;
}

/**
 * Builds the settings with precedence defaults < file < environment < overrides, validates them
 * once and fails naming the setting (its path and its environment variable) and what it accepts.
 */
export function loadSettings(opts: LoadOptions = {}): Settings {
  const raw: Raw = {};
  const put = (section: string, leaf: string, value: unknown) => {
    (raw[section] ??= {})[leaf] = value;
  };
  if (opts.file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(opts.file, 'utf8'));
    } catch (err) {
      // V8 quotes the text around a syntax error, which may be a token from the file: left out.
      const why = (err as Error).message.replace(
        /, (\.\.\.)?"[\s\S]*"(\.\.\.)? is not valid JSON$/,
        ' (not valid JSON)',
      );
      throw new RiskStreamError('CONFIG_INVALID', `config file ${opts.file}: ${why}`, {
        cause: err,
      });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new RiskStreamError('CONFIG_INVALID', `config file ${opts.file}: expected a JSON object`);
    }
    for (const [section, leaves] of Object.entries(parsed)) {
      if (typeof leaves !== 'object' || leaves === null) {
        throw new RiskStreamError(
          'CONFIG_INVALID',
          `config file ${opts.file}: "${section}" must be an object`,
        );
      }
      for (const [leaf, value] of Object.entries(leaves as object)) put(section, leaf, value);
    }
  }
  const env = opts.env ?? {};
  const known = new Set<string>();
  for (const [section, leaf] of settingPaths()) {
    const name = envName([section, leaf]);
    known.add(name);
    const value = env[name];
    if (value !== undefined && value !== '') put(section, leaf, value);
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith(ENV_PREFIX) && !known.has(name) && !IGNORED_ENV.has(name)) {
      throw new RiskStreamError('CONFIG_INVALID', `unknown setting ${name} (environment): no such setting`);
    }
  }
  for (const [section, leaves] of Object.entries(opts.overrides ?? {})) {
    for (const [leaf, value] of Object.entries(leaves)) if (value !== undefined) put(section, leaf, value);
  }
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path ?? [];
    const dotted = path.join('.');
    const hint =
      issue?.code === 'unrecognized_keys'
        ? `unknown setting ${[...path, ...issue.keys].join('.')}`
        : `invalid setting ${dotted} (env ${envName(path as string[])}): ${issue?.message ?? 'invalid'}`;
    throw new RiskStreamError('CONFIG_INVALID', hint + describeValue(raw, path as string[]));
  }
  const settings = result.data;
  if (settings.policy.file !== undefined) {
    try {
      loadPolicyFile(settings.policy.file);
    } catch (err) {
      throw new RiskStreamError(
        'CONFIG_INVALID',
        `invalid setting policy.file (env ${envName(['policy', 'file'])}): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  if (settings.features.networkClassFile !== undefined)
    loadNetworkClasses(settings.features.networkClassFile);
  resolveHttpSecurity(settings.http);
  resolveKafkaSecurity(settings.kafka);
  resolveRedisConnection(settings.redis);
  return settings;
}

/** Variables with the prefix that are not settings (used by the test scripts). */
const IGNORED_ENV = new Set([
  'RISK_STREAM_TEST_KAFKA',
  'RISK_STREAM_TEST_REDIS',
  'RISK_STREAM_TEST_CHROMIUM',
  'RISK_STREAM_CONFIG',
]);

/** Settings that hold credentials: an error never echoes their value. */
const SECRET_SETTINGS = new Set([
  'http.tokens',
  'http.analystTokens',
  'http.adminTokens',
  'caep.receivers',
  'kafka.saslPassword',
  'redis.password',
]);

function describeValue(raw: Raw, path: string[]): string {
  const [section, leaf] = path;
  if (section === undefined || leaf === undefined) return '';
  if (SECRET_SETTINGS.has(`${section}.${leaf}`)) return ' (value not shown: it holds credentials)';
  const value = raw[section]?.[leaf];
  return value === undefined ? '' : ` (got ${maskUrl(JSON.stringify(value))})`;
}
