import { z } from 'zod';

/**
 * Every setting, with its default and what it accepts. Each leaf can be set (lowest precedence
 * first) by a default, a JSON config file (`--config`), an environment variable named after its path
 * (`kafka.actionsTopic` -> `RISK_STREAM_KAFKA_ACTIONS_TOPIC`) or a command-line flag.
 * Leaves accept strings too, because environment variables are strings.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string): number | undefined {
  const m = DURATION.exec(value.trim());
  if (!m) return /^\d+$/.test(value.trim()) ? Number(value) : undefined;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] as number));
}

const fromString = (parse: (s: string) => unknown) => (v: unknown) => (typeof v === 'string' ? parse(v) : v);

const str = (def: string) => z.string().min(1).default(def);
const optStr = () => z.string().min(1).optional();
const int = (def: number, min: number, max: number) =>
  z
    .preprocess(
      fromString((s) => (s.trim() === '' ? s : Number(s))),
      z.number().int().min(min).max(max),
    )
    .default(def);
const num = (def: number, min: number, max: number) =>
  z
    .preprocess(
      fromString((s) => (s.trim() === '' ? s : Number(s))),
      z.number().min(min).max(max),
    )
    .default(def);
const bool = (def: boolean) =>
  z
    .preprocess(
      fromString(
        (s) =>
          ({ true: true, '1': true, yes: true, false: false, '0': false, no: false })[s.toLowerCase()] ?? s,
      ),
      z.boolean(),
    )
    .default(def);
const list = (def: string[]) =>
  z
    .preprocess(
      fromString((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
      z.array(z.string().min(1)).min(1),
    )
    .default(def);
/** A duration: `250ms`, `30s`, `30m`, `12h`, `1d`, or a number of milliseconds. Compiled to ms. */
const duration = (def: string) =>
  z
    .preprocess(
      fromString((s) => parseDuration(s) ?? s),
      z.number({ error: 'expected a duration like 30s, 5m or 1h' }),
    )
    .pipe(z.number().int().nonnegative())
    .default(parseDuration(def) as number);
const oneOf = <T extends readonly [string, ...string[]]>(values: T, def: T[number]) =>
  z.enum(values).default(def as never);

export const settingsSchema = z
  .strictObject({
    kafka: z
      .strictObject({
        brokers: list(['127.0.0.1:9092']).describe('Bootstrap brokers, comma separated'),
        clientId: str('risk-stream'),
        groupId: str('risk-stream'),
        actionsTopic: str('session-actions'),
        decisionsTopic: str('decisions'),
        deadLetterTopic: str('dead-letters'),
        shadowTopic: str('decisions-shadow').describe(
          "A shadow model's decisions (written only while a shadow model is configured)",
        ),
        inputFormat: oneOf(['auto', 'avro', 'confluent', 'json'] as const, 'auto'),
        allowJson: bool(false),
        outputFormat: oneOf(['avro', 'confluent', 'json'] as const, 'avro'),
        emitAllow: bool(false),
        fromBeginning: bool(false),
        sessionTimeout: duration('30s'),
        maxBytesPerPartition: int(1_048_576, 1024, 64 * 1_048_576),
        partitionsConsumedConcurrently: int(4, 1, 64),
        maxBatchRecords: int(2000, 1, 100_000).describe(
          'Most records in one pipeline batch (one Redis round trip, one model call, one produce request)',
        ),
        batchesInFlight: int(2, 1, 16).describe(
          'Pipeline batches in flight at once: the next one is scored while earlier decisions are being acknowledged',
        ),
        producerThread: bool(true).describe(
          'Run the decision producer on its own thread (record encoding off the pipeline thread)',
        ),
        connectionTimeout: duration('5s'),
      })
      .prefault({}),
    redis: z
      .strictObject({
        url: str('redis://127.0.0.1:6379'),
        keyPrefix: str('rs:'),
        idleTtl: duration('12h'),
        dedupeCap: int(1000, 10, 100_000),
        maxDistinct: int(64, 4, 10_000),
        maxRing: int(2000, 10, 100_000),
      })
      .prefault({}),
    model: z
      .strictObject({
        dir: optStr(),
        name: str('session-risk'),
        version: optStr(),
        backend: oneOf(['auto', 'tensorflow', 'wasm', 'cpu'] as const, 'auto'),
        shadowVersion: optStr().describe(
          'A version scored alongside the active one and never enforced (default: the one named in models/<name>/SHADOW, if any)',
        ),
        watchInterval: duration('5s').describe(
          'How often `run` re-reads models/<name>/ACTIVE and swaps to a promoted version (0: only on POST /admin/model/reload)',
        ),
      })
      .prefault({}),
    features: z
      .strictObject({
        networkClassFile: optStr().describe(
          'CSV of `asn,class` (class: isp, mobile, hosting, anonymizer, sase) merged over the built-in table of well-known networks',
        ),
      })
      .prefault({}),
    policy: z
      .strictObject({
        stepUpScore: num(0.6, 0, 1),
        terminateScore: num(0.9, 0, 1),
        sensitiveStepUpScore: num(0.3, 0, 1),
        sensitiveBlockScore: num(0.5, 0, 1),
        massExportRecords: int(10_000, 1, 1_000_000_000),
        maxReasons: int(5, 1, 20),
        minReasonWeight: num(0.05, 0, 1),
      })
      .prefault({}),
    input: z
      .strictObject({
        maxRecordBytes: int(65_536, 1024, 16 * 1_048_576),
        maxFuture: duration('5m'),
        maxPast: duration('400d'),
      })
      .prefault({}),
    http: z
      .strictObject({
        enabled: bool(true),
        host: str('127.0.0.1'),
        port: int(9464, 0, 65535),
      })
      .prefault({}),
    log: z.strictObject({ level: oneOf(['debug', 'info', 'warn', 'error'] as const, 'info') }).prefault({}),
  })
  .strict();

export type Settings = z.output<typeof settingsSchema>;
export type SettingsInput = z.input<typeof settingsSchema>;
