import { z } from 'zod';
import { caepSettings } from '../caep/settings';
import { bool, duration, int, list, num, oneOf, optStr, str } from './fields';
import { SENSITIVITIES } from '../policy/schema';

export { parseDuration } from './fields';

/**
 * Every setting, with its default and what it accepts. Each leaf can be set (lowest precedence
 * first) by a default, a JSON config file (`--config`), an environment variable named after its path
 * (`kafka.actionsTopic` -> `RISK_STREAM_KAFKA_ACTIONS_TOPIC`) or a command-line flag.
 * Leaves accept strings too, because environment variables are strings.
 */

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
        stepUpTopic: optStr().describe('Also write every STEP_UP decision here (e.g. for the MFA service)'),
        blockTopic: optStr().describe('Also write every BLOCK_ACTION decision here'),
        terminateTopic: optStr().describe(
          "Also write every TERMINATE decision here (e.g. for the identity provider's connector)",
        ),
        auditTopic: str('risk-evidence').describe(
          'Evidence records (JSON, hash-chained per session) for sensitive actions and non-ALLOW decisions',
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
        ssl: bool(false).describe("Connect to the brokers over TLS (the system's CAs, or kafka.sslCa)"),
        sslCa: optStr().describe(
          "CA (PEM file) the brokers' certificates must chain to, instead of the system's",
        ),
        sslCert: optStr().describe(
          'Client certificate (PEM file) for brokers that require one; needs kafka.sslKey',
        ),
        sslKey: optStr().describe('Private key (PEM file) of kafka.sslCert'),
        saslMechanism: oneOf(['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const, 'none').describe(
          'SASL authentication with the brokers; plain sends the password as is, so use it with kafka.ssl',
        ),
        saslUsername: optStr().describe('SASL user name (with kafka.saslMechanism)'),
        saslPassword: optStr().describe('SASL password (or kafka.saslPasswordFile); never logged or echoed'),
        saslPasswordFile: optStr().describe('File holding the SASL password (e.g. a mounted secret)'),
      })
      .prefault({}),
    redis: z
      .strictObject({
        url: str('redis://127.0.0.1:6379'),
        username: optStr().describe('ACL user name; overrides the one in redis.url'),
        password: optStr().describe(
          'Password (or redis.passwordFile); overrides the one in redis.url; never logged or echoed',
        ),
        passwordFile: optStr().describe('File holding the Redis password (e.g. a mounted secret)'),
        tls: bool(false).describe('Connect over TLS (as a rediss:// URL does)'),
        tlsCa: optStr().describe("CA (PEM file) Redis's certificate must chain to, instead of the system's"),
        keyPrefix: str('rs:'),
        idleTtl: duration('12h'),
        dedupeCap: int(1000, 10, 100_000),
        dedupeTtl: duration('1h').describe(
          "How long a session's dedupe ledger is kept after its last event (a redelivery later than this is applied again)",
        ),
        maxDistinct: int(64, 4, 10_000),
        maxRing: int(2000, 10, 100_000),
        outage: oneOf(['wait', 'decide'] as const, 'wait').describe(
          "While Redis does not answer: `wait` holds the batch and retries (nothing is decided without state); `decide` answers from the policy's outage.withoutState once it has failed for redis.outageAfter",
        ),
        outageAfter: duration('2s').describe(
          'With redis.outage=decide: how long Redis must have failed before decisions are made without it',
        ),
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
        file: optStr().describe(
          'The policy file (YAML or JSON; see `risk-stream policy show`); default: the built-in policy',
        ),
        watchInterval: duration('5s').describe(
          'How often `run` checks the policy file for changes (0: only on POST /admin/policy/reload)',
        ),
        maxReasons: int(5, 1, 20),
        minReasonWeight: num(0.05, 0, 1),
      })
      .prefault({}),
    evidence: z
      .strictObject({
        enabled: bool(true).describe('Write evidence records to kafka.auditTopic'),
        minSensitivity: oneOf(SENSITIVITIES, 'medium').describe(
          'Actions at least this sensitive (by the policy catalog) get an evidence record even when ALLOWed',
        ),
      })
      .prefault({}),
    timeline: z
      .strictObject({
        maxEntries: int(200, 0, 10_000).describe(
          'Latest actions kept per session for GET /v1/sessions/:id/timeline (0: none kept)',
        ),
        ttl: duration('1h').describe("A session's timeline is kept this long after its last action"),
        maxDecisions: int(100_000, 0, 10_000_000).describe(
          'Latest non-ALLOW decisions kept for GET /v1/decisions and the live feed (0: none kept)',
        ),
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
        evaluate: bool(true).describe('Serve POST /v1/evaluate, the inline evaluation API (`run` only)'),
        evaluatePublish: bool(true).describe(
          "Write the inline API's decisions to the decisions topic too (enforcement points, CAEP, audit)",
        ),
        evaluateMaxBatch: int(64, 1, 4096).describe(
          'Most inline requests decided together in one pipeline batch',
        ),
        tokens: optStr().describe(
          'Bearer tokens accepted by /v1/evaluate, comma separated (or use http.tokensFile); none and no client certificates: open, loopback only',
        ),
        tokensFile: optStr().describe('File of accepted bearer tokens, one per line (# comments)'),
        analystTokens: optStr().describe(
          'Read-only bearer tokens for the analyst API and page (/v1/sessions, /v1/decisions, /ui), comma separated',
        ),
        analystTokensFile: optStr().describe('File of analyst tokens, one per line (# comments)'),
        adminTokens: optStr().describe(
          'Bearer tokens for /admin/* (reloads); they can read the analyst API too. Comma separated',
        ),
        adminTokensFile: optStr().describe('File of admin tokens, one per line (# comments)'),
        tlsCert: optStr().describe('Serve HTTPS with this certificate (PEM file); needs http.tlsKey'),
        tlsKey: optStr().describe('Private key (PEM file) of http.tlsCert'),
        tlsCa: optStr().describe(
          'CA (PEM file) that client certificates must chain to (with http.clientCerts)',
        ),
        clientCerts: oneOf(['none', 'verify'] as const, 'none').describe(
          '`verify`: a client certificate signed by http.tlsCa authenticates /v1/evaluate callers (mTLS)',
        ),
      })
      .prefault({}),
    caep: caepSettings.prefault({}),
    log: z.strictObject({ level: oneOf(['debug', 'info', 'warn', 'error'] as const, 'info') }).prefault({}),
  })
  .strict();

export type Settings = z.output<typeof settingsSchema>;
export type SettingsInput = z.input<typeof settingsSchema>;
