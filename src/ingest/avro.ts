/** Avro wire-level helpers shared by ingest and emit: bounded decoding and Confluent framing. */
import type { Resolver, Type } from 'avsc';
import { RiskStreamError } from '../errors';

export type AvroDecodeResult = { ok: true; value: unknown } | { ok: false; reason: string };

/** Confluent schema ids are positive 32-bit signed ints. */
export const MAX_SCHEMA_ID = 0x7fffffff;
export const CONFLUENT_HEADER_BYTES = 5;

// Safe decoding. avsc checks string and bytes lengths against the buffer, but not array and map
// block counts: a 6-byte value can announce 2^31 items and avsc will loop reading them. So writer
// schemas with arrays or maps are walked first with bounds checks, which costs one extra pass and
// only for those schemas (SessionAction v1 has none).

const repeats = new WeakMap<Type, boolean>();
const zeroSized = new WeakMap<Type, boolean>();

interface Composite {
  itemsType?: Type;
  valuesType?: Type;
  types?: Type[];
  fields?: { type: Type }[];
  underlyingType?: Type;
  size?: number;
}

function children(t: Type): Type[] {
  const c = t as unknown as Composite;
  if (c.fields) return c.fields.map((f) => f.type);
  return [c.itemsType, c.valuesType, c.underlyingType, ...(c.types ?? [])].filter((x): x is Type => !!x);
}

function hasRepeats(t: Type, seen = new Set<Type>()): boolean {
  const known = repeats.get(t);
  if (known !== undefined) return known;
  if (seen.has(t)) return false;
  // A `false` found while a cycle is open may be partial; only the outermost call knows for sure.
  const outermost = seen.size === 0;
  seen.add(t);
  const r = t.typeName === 'array' || t.typeName === 'map' || children(t).some((c) => hasRepeats(c, seen));
  if (outermost || r) repeats.set(t, r);
  return r;
}

/** Whether a value of this type can take zero bytes (null, fixed(0), records of those). */
function isZeroSized(t: Type, seen = new Set<Type>()): boolean {
  const known = zeroSized.get(t);
  if (known !== undefined) return known;
  if (seen.has(t)) return false;
  seen.add(t);
  const c = t as unknown as Composite;
  let z: boolean;
  if (t.typeName === 'null') z = true;
  else if (t.typeName === 'fixed') z = c.size === 0;
  else if (t.typeName.startsWith('logical:')) z = isZeroSized(c.underlyingType as Type, seen);
  else if (c.fields) z = c.fields.every((f) => isZeroSized(f.type, seen));
  else z = false;
  zeroSized.set(t, z);
  return z;
}

/** Most zero-byte items a single value may claim (an array of nulls says nothing about its length). */
const ZERO_SIZED_ITEM_BUDGET = 65_536;

class Walk {
  pos: number;
  zeroBudget = ZERO_SIZED_ITEM_BUDGET;
  constructor(
    readonly buf: Buffer,
    pos: number,
  ) {
    this.pos = pos;
  }

  long(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated');
      n += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      scale *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  advance(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new Error('truncated');
    this.pos += n;
  }

  blocks(item: Type, perItem: () => void): void {
    const zero = isZeroSized(item);
    for (let n = this.long(); n !== 0; n = this.long()) {
      if (n < 0) {
        n = -n;
        this.long(); // block size in bytes
      }
      if (zero) {
        if ((this.zeroBudget -= n) < 0) throw new Error(`${n} zero-byte items`);
      } else if (n > this.buf.length - this.pos) {
        throw new Error(`block of ${n} items in ${this.buf.length - this.pos} bytes`);
      }
      for (let i = 0; i < n; i++) perItem();
    }
  }

  value(t: Type): void {
    const c = t as unknown as Composite;
    switch (t.typeName) {
      case 'null':
        return;
      case 'boolean':
        return this.advance(1);
      case 'int':
      case 'long':
      case 'enum':
        this.long();
        return;
      case 'float':
        return this.advance(4);
      case 'double':
        return this.advance(8);
      case 'string':
      case 'bytes':
        return this.advance(this.long());
      case 'fixed':
        return this.advance(c.size as number);
      case 'array':
        return this.blocks(c.itemsType as Type, () => this.value(c.itemsType as Type));
      case 'map':
        return this.blocks(c.valuesType as Type, () => {
          this.advance(this.long());
          this.value(c.valuesType as Type);
        });
      case 'record':
      case 'error':
        for (const f of c.fields ?? []) this.value(f.type);
        return;
      case 'union:unwrapped':
      case 'union:wrapped': {
        const branch = c.types?.[this.long()];
        if (!branch) throw new Error('invalid union index');
        return this.value(branch);
      }
      default:
        if (c.underlyingType) return this.value(c.underlyingType);
        throw new Error(`cannot walk type ${t.typeName}`);
    }
  }
}

/**
 * Decodes one Avro value filling `buf` from `offset` to its end, written with `writer` (default:
 * the reader itself). Never throws: truncation, trailing bytes, bad enum or union indexes and
 * absurd block counts all come back as `{ ok: false, reason }`.
 */
export function decodeAvro(
  reader: Type,
  buf: Buffer,
  offset: number,
  writer: Type = reader,
  resolver?: Resolver,
): AvroDecodeResult {
  const available = buf.length - offset;
  try {
    if (hasRepeats(writer)) {
      const walk = new Walk(buf, offset);
      try {
        walk.value(writer);
      } catch (err) {
        return { ok: false, reason: `malformed: ${(err as Error).message}` };
      }
    }
    const { value, offset: end } = reader.decode(buf, offset, resolver);
    if (end < 0)
      return { ok: false, reason: `truncated: the record needs more than the ${available} bytes given` };
    if (end !== buf.length)
      return { ok: false, reason: `${buf.length - end} trailing bytes after the record` };
    return { ok: true, value };
  } catch (err) {
    return { ok: false, reason: `malformed: ${(err as Error).message}` };
  }
}

/** Prepends the Confluent wire-format header: magic byte 0 and the schema id, big-endian. */
export function confluentFrame(schemaId: number, body: Buffer): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > MAX_SCHEMA_ID) {
    throw new RiskStreamError(
      'SCHEMA_INVALID',
      `schema id must be an integer in 0..${MAX_SCHEMA_ID}, got ${schemaId}`,
    );
  }
  const out = Buffer.allocUnsafe(CONFLUENT_HEADER_BYTES + body.length);
  out[0] = 0;
  out.writeUInt32BE(schemaId, 1);
  body.copy(out, CONFLUENT_HEADER_BYTES);
  return out;
}

/** The schema id of a Confluent-framed value, or null when `buf` is not one. */
export function confluentSchemaId(buf: Buffer): number | null {
  return buf.length >= CONFLUENT_HEADER_BYTES && buf[0] === 0 ? buf.readUInt32BE(1) : null;
}
