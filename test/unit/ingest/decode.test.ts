import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Type } from 'avsc';
import type { DeadLetterCode, RawRecord } from '../../../src/contract';
import { encodeAction } from '../../../src/emit/encode';
import { createActionDecoder, type ActionDecoderOptions } from '../../../src/ingest/decode';
import { confluentFrame } from '../../../src/ingest/avro';
import { loadSchemaRegistry, type SchemaRegistry } from '../../../src/ingest/schemas';
import { action } from '../../helpers/fixtures';

const NOW = 1_760_000_060_000;
const FIXTURES = path.join(__dirname, '../../fixtures/schemas');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

function raw(value: Buffer | null, extra: Partial<RawRecord> = {}): RawRecord {
  return {
    value,
    key: Buffer.from('s-test'),
    source: 'session-actions',
    partition: 3,
    offset: '9007199254740993',
    line: null,
    receivedAt: NOW + 5,
    ...extra,
  };
}

/** Deterministic PRNG (mulberry32): a failing case can be reproduced from its index. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('createActionDecoder', () => {
  // Its own registry: the ids registered here must not leak into other tests' default registry.
  const registry: SchemaRegistry = loadSchemaRegistry();
  registry.registerSchema(10, fixture('session_action.v0.avsc'));
  registry.registerSchema(12, fixture('session_action.v2.avsc'));
  const decoder = (opts: Partial<ActionDecoderOptions> = {}) =>
    createActionDecoder({ format: 'auto', registry, ...opts });

  describe('round trips', () => {
    const a = action({ resource: 'opp/42', records: 17, mfa: true });
    for (const [encodeAs, format, allowJson] of [
      ['avro', 'avro', false],
      ['avro', 'auto', false],
      ['confluent', 'confluent', false],
      ['confluent', 'auto', false],
      ['json', 'json', false],
      ['json', 'auto', true],
    ] as const) {
      it(`${encodeAs} read as ${format}${allowJson ? ' (allowJson)' : ''}`, () => {
        const r = decoder({ format, allowJson })(raw(encodeAction(a, encodeAs)), NOW);
        assert.ok(r.ok, r.ok ? '' : r.deadLetter.reason);
        assert.deepEqual(r.action, a);
        assert.equal(
          Object.getPrototypeOf(r.action.client),
          Object.prototype,
          'plain objects, not Avro records',
        );
      });
    }

    it('writes the Confluent header: magic 0 and the big-endian schema id', () => {
      const buf = encodeAction(a, 'confluent', 258);
      assert.deepEqual([...buf.subarray(0, 5)], [0, 0, 0, 1, 2]);
      assert.deepEqual(buf.subarray(5), encodeAction(a, 'avro'));
      assert.deepEqual(
        [...encodeAction(a, 'confluent').subarray(0, 5)],
        [0, 0, 0, 0, registry.defaultIds.sessionAction],
      );
    });

    it('keeps nulls and a UTF-8 BOM in JSON does no harm', () => {
      const bare = action();
      const buf = Buffer.concat([Buffer.from('\ufeff'), encodeAction(bare, 'json')]);
      const r = decoder({ format: 'json' })(raw(buf), NOW);
      assert.ok(r.ok);
      assert.deepEqual(r.action, bare);
    });
  });

  describe('schema evolution', () => {
    const a = action({ mfa: true, client: { accept_language: 'de-DE' } });

    it('reads an older writer (v0): missing fields become null', () => {
      const v0 = Type.forSchema(JSON.parse(fixture('session_action.v0.avsc')));
      const r = decoder({ format: 'confluent' })(raw(confluentFrame(10, v0.toBuffer(a))), NOW);
      assert.ok(r.ok, r.ok ? '' : r.deadLetter.reason);
      assert.deepEqual(r.action, { ...a, mfa: null, client: { ...a.client, accept_language: null } });
    });

    it('reads a newer writer (v2): extra fields are dropped', () => {
      const v2 = Type.forSchema(JSON.parse(fixture('session_action.v2.avsc')));
      const newer = { ...a, tenant_id: 't-9', client: { ...a.client, tls_version: 'TLSv1.3' } };
      const r = decoder({ format: 'auto' })(raw(confluentFrame(12, v2.toBuffer(newer))), NOW);
      assert.ok(r.ok, r.ok ? '' : r.deadLetter.reason);
      assert.deepEqual(r.action, a);
    });

    it('dead-letters a writer that cannot be resolved as SCHEMA_MISMATCH', () => {
      const incompatible = JSON.parse(fixture('session_action.v0.avsc'));
      incompatible.fields[1].type = 'string';
      registry.registerSchema(13, incompatible);
      const r = decoder()(raw(confluentFrame(13, Buffer.from([2, 0x61]))), NOW);
      assert.equal(!r.ok && r.deadLetter.reason_code, 'SCHEMA_MISMATCH');
      assert.match(
        !r.ok ? r.deadLetter.reason : '',
        /schema id 13 .*cannot be read as io\.riskstream\.v1\.SessionAction/,
      );
    });

    it('refuses a different schema under a known id', () => {
      assert.throws(() => registry.registerSchema(10, fixture('session_action.v2.avsc')), {
        code: 'SCHEMA_INVALID',
      });
      registry.registerSchema(10, fixture('session_action.v0.avsc')); // the same again is fine
    });
  });

  describe('bad input', () => {
    const valid = action();
    const avro = (a: unknown) => registry.sessionActionType.toBuffer(a);
    const bigUa = avro({ ...valid, client: { ...valid.client, user_agent: 'A'.repeat(1_048_576) } });
    const cases: [string, Buffer | null, DeadLetterCode, RegExp, Partial<ActionDecoderOptions>?][] = [
      ['null value', null, 'EMPTY', /null/],
      ['empty buffer', Buffer.alloc(0), 'EMPTY', /empty/],
      ['oversized buffer', Buffer.alloc(70_000, 1), 'OVERSIZED', /value is 70000 bytes, limit 65536/],
      ['random bytes', Buffer.from('c3e1a7ff0b2291d4e5f6a7b8c9d0e1f2a3b4c5d6', 'hex'), 'UNDECODABLE', /Avro/],
      ['truncated valid record', encodeAction(valid, 'avro').subarray(0, 40), 'UNDECODABLE', /truncated/],
      [
        'trailing bytes',
        Buffer.concat([encodeAction(valid, 'avro'), Buffer.from([0])]),
        'UNDECODABLE',
        /1 trailing bytes/,
      ],
      [
        'a 2 GB string length in 5 bytes',
        Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]),
        'UNDECODABLE',
        /truncated/,
      ],
      ['short value starting with 0x00', Buffer.from([0, 0, 1]), 'UNDECODABLE', /Avro/],
      [
        'unknown schema id',
        confluentFrame(9999, encodeAction(valid, 'avro')),
        'UNKNOWN_SCHEMA_ID',
        /schema id 9999/,
      ],
      [
        'non-Confluent value as confluent',
        encodeAction(valid, 'avro'),
        'UNDECODABLE',
        /not Confluent wire format/,
        { format: 'confluent' },
      ],
      ['JSON when JSON is not enabled', encodeAction(valid, 'json'), 'UNDECODABLE', /allowJson/],
      ['invalid JSON', Buffer.from('{"event_id": '), 'INVALID_JSON', /not valid JSON/, { allowJson: true }],
      ['JSON array', Buffer.from('[1]'), 'WRONG_TYPE', /record is an array/, { format: 'json' }],
      ['a 1 MB user agent (record size)', bigUa, 'OVERSIZED', /value is 10\d{5} bytes, limit 65536/],
      [
        'a 1 MB user agent (field)',
        bigUa,
        'OVERSIZED',
        /client\.user_agent is 1048576 chars, limit 2048/,
        { maxRecordBytes: 2e6 },
      ],
      [
        'ts in year 3000',
        avro({ ...valid, ts: Date.UTC(3000, 0, 1) }),
        'TS_OUT_OF_RANGE',
        /^ts 32503680000000 /,
      ],
      [
        'NaN lat (Avro double)',
        avro({ ...valid, client: { ...valid.client, lat: Number.NaN } }),
        'INVALID_VALUE',
        /client\.lat is NaN/,
      ],
      ['negative records', avro({ ...valid, records: -3 }), 'INVALID_VALUE', /^records is -3/],
      [
        'negative asn',
        avro({ ...valid, client: { ...valid.client, asn: -1 } }),
        'INVALID_VALUE',
        /^client\.asn/,
      ],
      [
        'bad ip',
        avro({ ...valid, client: { ...valid.client, ip: 'localhost' } }),
        'INVALID_VALUE',
        /^client\.ip/,
      ],
      ['empty session_id', avro({ ...valid, session_id: '' }), 'INVALID_VALUE', /^session_id is empty/],
    ];
    const json = (edit: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...valid, ...edit }));
    cases.push(
      [
        'unknown principal_type (JSON)',
        json({ principal_type: 'ROBOT' }),
        'INVALID_VALUE',
        /^principal_type "ROBOT"/,
        { format: 'json' },
      ],
      [
        'missing session_id (JSON)',
        json({ session_id: undefined }),
        'MISSING_FIELD',
        /^session_id is missing/,
        { format: 'json' },
      ],
      [
        'numeric string ts (JSON)',
        json({ ts: String(valid.ts) }),
        'WRONG_TYPE',
        /^ts is a string/,
        { format: 'json' },
      ],
    );
    // Bare Avro: the enum index is past the symbols (byte 0x08 = index 4).
    const good = encodeAction(valid, 'avro');
    const enumAt = 1 + 36 + 6 + 1 + 6 + 1 + 3; // event_id, ts, session_id, user_id
    const badEnum = Buffer.from(good);
    badEnum[enumAt] = 0x08;
    cases.push(['unknown principal_type (Avro)', badEnum, 'UNDECODABLE', /PrincipalType|enum/]);

    for (const [what, value, code, reason, opts] of cases) {
      it(`${what} -> ${code}`, () => {
        const record = raw(value, { line: 7 });
        const r = decoder(opts)(record, NOW);
        assert.equal(r.ok, false);
        if (r.ok) return;
        const dl = r.deadLetter;
        assert.equal(dl.reason_code, code, dl.reason);
        assert.match(dl.reason, reason);
        assert.equal(dl.payload, value ?? dl.payload, 'the original bytes, not a copy');
        if (value === null) assert.equal(dl.payload.length, 0);
        assert.deepEqual(
          [dl.key, dl.source, dl.partition, dl.offset, dl.line, dl.received_at],
          [record.key, 'session-actions', 3, '9007199254740993', 7, NOW + 5],
        );
      });
    }
  });

  describe('absurd lengths fail fast', () => {
    // A newer writer with an array: avsc would loop over whatever item count the bytes announce.
    const withTags = JSON.parse(fixture('session_action.v2.avsc'));
    withTags.fields.push({ name: 'tags', type: { type: 'array', items: 'string' }, default: [] });
    withTags.fields.push({ name: 'marks', type: { type: 'array', items: 'null' }, default: [] });

    it('rejects an array block count larger than the buffer', () => {
      registry.registerSchema(20, withTags);
      const writer = registry.byId(20) as Type;
      const body = writer.toBuffer({
        ...action(),
        tenant_id: null,
        client: { ...action().client, tls_version: null },
        tags: [],
        marks: [],
      });
      // Replace the two trailing empty arrays (0x00 0x00) with a 2^30-item block of tags.
      const evil = Buffer.concat([
        body.subarray(0, body.length - 2),
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08, 0x02, 0x61]),
      ]);
      const r = decoder()(raw(confluentFrame(20, evil)), NOW);
      assert.equal(!r.ok && r.deadLetter.reason_code, 'UNDECODABLE');
      assert.match(!r.ok ? r.deadLetter.reason : '', /block of 1073741824 items/);
    });

    it('rejects a huge count of zero-byte items', () => {
      const writer = registry.byId(20) as Type;
      const body = writer.toBuffer({
        ...action(),
        tenant_id: null,
        client: { ...action().client, tls_version: null },
        tags: [],
        marks: [],
      });
      const evil = Buffer.concat([
        body.subarray(0, body.length - 1),
        Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00]),
      ]);
      const r = decoder()(raw(confluentFrame(20, evil)), NOW);
      assert.match(!r.ok ? r.deadLetter.reason : '', /2147483647 zero-byte items/);
    });
  });

  it('never throws and always dead-letters garbage with its bytes (20k cases)', () => {
    const rnd = prng(20_260_101);
    const int = (n: number) => Math.floor(rnd() * n);
    const samples = [
      encodeAction(action(), 'avro'),
      encodeAction(action({ records: 5 }), 'confluent'),
      encodeAction(action(), 'json'),
    ];
    const decoders = [
      decoder({ allowJson: true }),
      decoder({ format: 'avro' }),
      decoder({ format: 'confluent' }),
      decoder({ format: 'json' }),
    ];
    const seen = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const sample = samples[i % samples.length] as Buffer;
      let value: Buffer;
      let mustFail = true;
      switch (i % 4) {
        case 0: // random bytes, sometimes dressed as Confluent or JSON
          value = Buffer.from(Array.from({ length: int(120) + 1 }, () => int(256)));
          if (i % 3 === 0) value[0] = 0;
          if (i % 5 === 0) value[0] = 0x7b;
          break;
        case 1: // truncated
          value = sample.subarray(0, int(sample.length));
          break;
        case 2: // a few bytes flipped: may still be a valid record
          value = Buffer.from(sample);
          for (let k = 0; k < 1 + int(3); k++) value[int(value.length)] = int(256);
          mustFail = false;
          break;
        default: // absurd varints spliced in
          value = Buffer.concat([
            sample.subarray(0, int(sample.length)),
            Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            sample.subarray(int(sample.length)),
          ]);
          mustFail = false;
      }
      const record = raw(value, { line: i });
      const r = (decoders[int(decoders.length)] as (typeof decoders)[number])(record, NOW);
      if (r.ok) {
        assert.equal(mustFail, false, `case ${i} decoded: ${value.toString('hex')}`);
        continue;
      }
      assert.equal(r.deadLetter.payload, value, `case ${i}`);
      assert.equal(r.deadLetter.line, i);
      assert.equal(typeof r.deadLetter.reason, 'string');
      seen.set(r.deadLetter.reason_code, (seen.get(r.deadLetter.reason_code) ?? 0) + 1);
    }
    for (const code of ['EMPTY', 'UNDECODABLE', 'INVALID_JSON', 'UNKNOWN_SCHEMA_ID'])
      assert.ok(seen.get(code), `saw ${code}`);
  });
});
