import { isUtf8 } from 'node:buffer';
import type { Type } from 'avsc';
import type { DeadLetter, DeadLetterCode, Decision, SessionAction } from '../contract';
import { RiskStreamError } from '../errors';
// The wire formats are shared by both ends of the pipeline; the schemas live with ingest.
import { CONFLUENT_HEADER_BYTES, confluentFrame, confluentSchemaId, decodeAvro } from '../ingest/avro';
import { defaultRegistry, type SchemaRegistry } from '../ingest/schemas';

export type OutputFormat = 'avro' | 'confluent' | 'json';

/**
 * Avro carries score and weight as 32-bit floats. Rounding to 4 decimals before any encoding,
 * and again after an Avro decode, makes JSON and Avro consumers see the same number.
 */
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

function toAvro(
  type: Type,
  value: unknown,
  what: string,
  format: OutputFormat,
  schemaId: number | undefined,
): Buffer {
  let body: Buffer;
  try {
    body = type.toBuffer(value);
  } catch (err) {
    throw new RiskStreamError(
      'SCHEMA_INVALID',
      `${what} does not fit ${type.name}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return format === 'confluent' ? confluentFrame(schemaId as number, body) : body;
}

function fail(what: string, reason: string): never {
  throw new RiskStreamError('INPUT_INVALID', `cannot decode ${what}: ${reason}`);
}

/** Detects the format and returns the plain object; Avro records come back as record instances. */
function decodeAny(buf: Buffer, reader: Type, registry: SchemaRegistry): { value: unknown; json: boolean } {
  const what = reader.name ?? 'record';
  if (buf.length === 0) fail(what, 'empty buffer');
  if (buf[0] === 0x7b) {
    try {
      return { value: JSON.parse(buf.toString('utf8')) as unknown, json: true };
    } catch (err) {
      fail(what, `not valid JSON: ${(err as Error).message}`);
    }
  }
  const id = confluentSchemaId(buf);
  let r;
  if (id === null) {
    r = decodeAvro(reader, buf, 0);
    // Bare Avro carries no schema id: bytes from an earlier version of the record are tried
    // against each registered older writer of the same name (newest first).
    for (const older of r.ok ? [] : registry.olderWriters(reader)) {
      const res = decodeAvro(reader, buf, 0, older, reader.createResolver(older));
      if (res.ok) {
        r = res;
        break;
      }
    }
  } else {
    const res = registry.resolve(reader, id);
    if (!res.ok) fail(what, res.reason);
    r = decodeAvro(reader, buf, CONFLUENT_HEADER_BYTES, res.writer, res.resolver);
  }
  if (!r.ok) fail(what, r.reason);
  return { value: r.value, json: false };
}

// ---------------------------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------------------------

function normalDecision(d: Decision): Decision {
  return {
    decision_id: d.decision_id,
    event_id: d.event_id,
    session_id: d.session_id,
    user_id: d.user_id,
    app: d.app,
    event_ts: d.event_ts,
    decided_at: d.decided_at,
    decision: d.decision,
    score: round4(d.score),
    model_version: d.model_version,
    reasons: d.reasons.map((r) => ({ code: r.code, detail: r.detail, weight: round4(r.weight) })),
    action: d.action ?? null,
    policy_version: d.policy_version ?? null,
    policy_rule: d.policy_rule ?? null,
  };
}

/** @param schemaId for `confluent`; defaults to the registry's id for decision.avsc */
export function encodeDecision(d: Decision, format: OutputFormat, schemaId?: number): Buffer {
  const n = normalDecision(d);
  if (format === 'json') return Buffer.from(JSON.stringify(n), 'utf8');
  const reg = defaultRegistry();
  return toAvro(
    reg.decisionType,
    n,
    `decision ${d.decision_id}`,
    format,
    schemaId ?? reg.defaultIds.decision,
  );
}

/** For consumers and tests: detects JSON, Confluent or bare Avro. Throws INPUT_INVALID. */
export function decodeDecision(buf: Buffer, registry: SchemaRegistry = defaultRegistry()): Decision {
  const type = registry.decisionType;
  const { value } = decodeAny(buf, type, registry);
  if (!type.isValid(value)) fail('Decision', 'the JSON does not match decision.avsc');
  return normalDecision(value as Decision);
}

// ---------------------------------------------------------------------------------------------
// DeadLetter
// ---------------------------------------------------------------------------------------------

/** The JSON form: bytes as base64, plus the payload as text when it is valid UTF-8 (null otherwise). */
export interface DeadLetterJson {
  reason_code: DeadLetterCode;
  reason: string;
  source: string;
  partition: number | null;
  offset: string | null;
  line: number | null;
  key: string | null;
  payload: string;
  payload_utf8: string | null;
  received_at: number;
}

function normalDeadLetter(dl: DeadLetter): DeadLetter {
  return {
    reason_code: dl.reason_code,
    reason: dl.reason,
    source: dl.source,
    partition: dl.partition,
    offset: dl.offset,
    line: dl.line,
    key: dl.key,
    payload: dl.payload,
    received_at: dl.received_at,
  };
}

export function encodeDeadLetter(dl: DeadLetter, format: OutputFormat, schemaId?: number): Buffer {
  if (format === 'json') {
    const j: DeadLetterJson = {
      ...normalDeadLetter(dl),
      key: dl.key === null ? null : dl.key.toString('base64'),
      payload: dl.payload.toString('base64'),
      payload_utf8: isUtf8(dl.payload) ? dl.payload.toString('utf8') : null,
    };
    return Buffer.from(JSON.stringify(j), 'utf8');
  }
  const reg = defaultRegistry();
  return toAvro(
    reg.deadLetterType,
    normalDeadLetter(dl),
    'dead letter',
    format,
    schemaId ?? reg.defaultIds.deadLetter,
  );
}

/**
 * For consumers and tests. `reason_code` is passed through as written: the schema keeps it a
 * string so that codes added later reach older readers instead of failing them.
 */
export function decodeDeadLetter(buf: Buffer, registry: SchemaRegistry = defaultRegistry()): DeadLetter {
  const type = registry.deadLetterType;
  const { value, json } = decodeAny(buf, type, registry);
  let dl = value;
  if (json) {
    const j = value as Partial<DeadLetterJson> | null;
    if (typeof j?.payload !== 'string' || (j.key !== null && typeof j.key !== 'string')) {
      fail('DeadLetter', 'payload and key must be base64 strings');
    }
    dl = {
      ...j,
      key: j.key === null ? null : Buffer.from(j.key, 'base64'),
      payload: Buffer.from(j.payload, 'base64'),
    };
  }
  if (!type.isValid(dl)) fail('DeadLetter', 'the JSON does not match dead_letter.avsc');
  return normalDeadLetter(dl as DeadLetter);
}

// ---------------------------------------------------------------------------------------------
// SessionAction (the simulator's and the benchmark's input)
// ---------------------------------------------------------------------------------------------

function normalAction(a: SessionAction): SessionAction {
  const c = a.client;
  return {
    event_id: a.event_id,
    ts: a.ts,
    session_id: a.session_id,
    user_id: a.user_id,
    principal_type: a.principal_type,
    app: a.app,
    action: a.action,
    resource: a.resource ?? null,
    records: a.records ?? null,
    mfa: a.mfa ?? null,
    client: {
      ip: c.ip,
      asn: c.asn ?? null,
      country: c.country ?? null,
      lat: c.lat ?? null,
      lon: c.lon ?? null,
      user_agent: c.user_agent,
      ja4: c.ja4 ?? null,
      device_id: c.device_id ?? null,
      accept_language: c.accept_language ?? null,
    },
  };
}

/** @param schemaId for `confluent`; defaults to the registry's id for session_action.avsc */
export function encodeAction(a: SessionAction, format: OutputFormat, schemaId?: number): Buffer {
  const n = normalAction(a);
  if (format === 'json') return Buffer.from(JSON.stringify(n), 'utf8');
  const reg = defaultRegistry();
  return toAvro(
    reg.sessionActionType,
    n,
    `action ${a.event_id}`,
    format,
    schemaId ?? reg.defaultIds.sessionAction,
  );
}
