import type { DeadLetter, DeadLetterCode, RawRecord, SessionAction } from '../contract';
import { CONFLUENT_HEADER_BYTES, decodeAvro } from './avro';
import type { SchemaRegistry } from './schemas';
import { DEFAULT_INPUT_LIMITS, validateAction, type InputLimits } from './validate';

export type InputFormat = 'auto' | 'avro' | 'confluent' | 'json';

export interface ActionDecoderOptions {
  /**
   * - `confluent`: magic byte 0, 4-byte big-endian schema id, Avro body (resolved via the registry)
   * - `avro`: a bare Avro body written with `schemas/session_action.avsc`
   * - `json`: one JSON object, the contract's field names
   * - `auto`: Confluent if the value starts with 0x00 and has a header, JSON if it starts with `{`
   *   and `allowJson` is set, bare Avro otherwise. Unambiguous: bare Avro of a SessionAction can
   *   start with neither (0x00 would be an empty event_id, `{` a negative string length).
   */
  format: InputFormat;
  registry: SchemaRegistry;
  /** Unset limits take their defaults (DEFAULT_INPUT_LIMITS). */
  limits?: Partial<InputLimits>;
  /** Larger values are dead-lettered as OVERSIZED before any parsing. @default 65536 */
  maxRecordBytes?: number;
  /**
   * In `auto`, accept JSON values. Off by default for Kafka so a topic cannot silently mix
   * formats; replay turns it on. Ignored for the other formats.
   * @default false
   */
  allowJson?: boolean;
}

export type ActionDecodeResult = { ok: true; action: SessionAction } | { ok: false; deadLetter: DeadLetter };

export const DEFAULT_MAX_RECORD_BYTES = 65_536;

type Parsed = { ok: true; value: unknown } | { ok: false; code: DeadLetterCode; reason: string };

const OPEN_BRACE = 0x7b;
const BOM = '\ufeff';

function hex(buf: Buffer, n: number): string {
  return buf.subarray(0, n).toString('hex');
}

/**
 * Builds the decoder the pipeline runs on every raw record. `decode` never throws: whatever the
 * bytes, the result is either a validated SessionAction or a dead letter carrying those bytes.
 */
export function createActionDecoder(
  opts: ActionDecoderOptions,
): (raw: RawRecord, now: number) => ActionDecodeResult {
  const { registry, format } = opts;
  const reader = registry.sessionActionType;
  const limits: InputLimits = { ...DEFAULT_INPUT_LIMITS, ...opts.limits };
  const maxBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const allowJson = opts.allowJson ?? false;

  function fromJson(value: Buffer): Parsed {
    let text = value.toString('utf8');
    if (text.startsWith(BOM)) text = text.slice(1);
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch (err) {
      return { ok: false, code: 'INVALID_JSON', reason: `not valid JSON: ${(err as Error).message}` };
    }
  }

  function fromAvro(value: Buffer): Parsed {
    const r = decodeAvro(reader, value, 0);
    return r.ok
      ? r
      : { ok: false, code: 'UNDECODABLE', reason: `Avro (bare, SessionAction v1): ${r.reason}` };
  }

  function fromConfluent(value: Buffer): Parsed {
    if (value.length < CONFLUENT_HEADER_BYTES || value[0] !== 0) {
      return {
        ok: false,
        code: 'UNDECODABLE',
        reason: `not Confluent wire format: expected 0x00 and a 4-byte schema id, got 0x${hex(value, 5)}`,
      };
    }
    const id = value.readUInt32BE(1);
    const res = registry.resolve(reader, id);
    if (!res.ok) return res;
    const r = decodeAvro(reader, value, CONFLUENT_HEADER_BYTES, res.writer, res.resolver);
    return r.ok ? r : { ok: false, code: 'UNDECODABLE', reason: `Avro (schema id ${id}): ${r.reason}` };
  }

  function parse(value: Buffer): Parsed {
    switch (format) {
      case 'json':
        return fromJson(value);
      case 'avro':
        return fromAvro(value);
      case 'confluent':
        return fromConfluent(value);
      case 'auto':
        if (value[0] === 0 && value.length >= CONFLUENT_HEADER_BYTES) return fromConfluent(value);
        if (value[0] === OPEN_BRACE) {
          return allowJson
            ? fromJson(value)
            : {
                ok: false,
                code: 'UNDECODABLE',
                reason: 'value looks like JSON but JSON input is not enabled (allowJson)',
              };
        }
        return fromAvro(value);
      default:
        return format satisfies never;
    }
  }

  return function decode(raw: RawRecord, now: number): ActionDecodeResult {
    const value = raw.value;
    const dead = (code: DeadLetterCode, reason: string): ActionDecodeResult => ({
      ok: false,
      deadLetter: {
        reason_code: code,
        reason,
        source: raw.source,
        partition: raw.partition,
        offset: raw.offset,
        line: raw.line,
        key: raw.key,
        payload: value ?? Buffer.alloc(0),
        received_at: raw.receivedAt,
      },
    });
    try {
      if (value === null || value.length === 0)
        return dead('EMPTY', value === null ? 'value is null' : 'value is empty');
      if (value.length > maxBytes)
        return dead('OVERSIZED', `value is ${value.length} bytes, limit ${maxBytes}`);
      const parsed = parse(value);
      if (!parsed.ok) return dead(parsed.code, parsed.reason);
      const v = validateAction(parsed.value, limits, now);
      return v.ok ? v : dead(v.code, v.reason);
    } catch (err) {
      // Not expected (every stage above returns its failures), but one bad record must not stop a partition.
      return dead('UNDECODABLE', `unexpected error while decoding: ${(err as Error).message}`);
    }
  };
}
