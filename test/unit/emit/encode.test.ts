import assert from 'node:assert/strict';
import type { DeadLetter, Decision } from '../../../src/contract';
import {
  decodeDeadLetter,
  decodeDecision,
  encodeAction,
  encodeDeadLetter,
  encodeDecision,
  type DeadLetterJson,
} from '../../../src/emit/encode';
import { confluentFrame } from '../../../src/ingest/avro';
import { defaultRegistry } from '../../../src/ingest/schemas';
import { action } from '../../helpers/fixtures';

const FORMATS = ['avro', 'confluent', 'json'] as const;

function decision(overrides: Partial<Decision> = {}): Decision {
  return {
    decision_id: '5f0e7c1a-9b2d-5c3e-8f4a-1b2c3d4e5f60',
    event_id: '00000000-0000-4000-8000-000000000001',
    session_id: 's-test',
    user_id: 'u-1',
    app: 'salesforce',
    event_ts: 1_760_000_000_000,
    decided_at: 1_760_000_000_042,
    decision: 'STEP_UP',
    score: 0.73456789,
    model_version: 'session-risk/3',
    reasons: [
      {
        code: 'UA_CHANGED',
        detail: 'user agent changed mid-session (Chrome 131 -> curl/8.5)',
        weight: 0.41234567,
      },
      { code: 'ASN_CHANGED', detail: 'AS7922 -> AS14061', weight: 0.1 },
    ],
    action: 'export',
    policy_version: 'default@1#0a1b2c3d',
    policy_rule: 'sensitivity_matrix',
    ...overrides,
  };
}

function deadLetter(overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    reason_code: 'OVERSIZED',
    reason: 'client.user_agent is 5000 chars, limit 2048',
    source: 'session-actions',
    partition: 2,
    offset: '9007199254740993',
    line: null,
    key: Buffer.from('s-test'),
    payload: Buffer.from([0x00, 0xff, 0x10, 0x80]),
    received_at: 1_760_000_000_005,
    ...overrides,
  };
}

describe('emit/encode', () => {
  describe('Decision', () => {
    const rounded = decision({
      score: 0.7346,
      reasons: [
        {
          code: 'UA_CHANGED',
          detail: 'user agent changed mid-session (Chrome 131 -> curl/8.5)',
          weight: 0.4123,
        },
        { code: 'ASN_CHANGED', detail: 'AS7922 -> AS14061', weight: 0.1 },
      ],
    });

    for (const format of FORMATS) {
      it(`round-trips as ${format}, score and weights rounded to 4 decimals`, () => {
        const back = decodeDecision(encodeDecision(decision(), format));
        assert.deepEqual(back, rounded);
        assert.equal(Object.getPrototypeOf(back.reasons[0]), Object.prototype);
      });
    }

    it('JSON and Avro consumers see the same numbers', () => {
      const json = JSON.parse(encodeDecision(decision(), 'json').toString('utf8')) as Decision;
      assert.equal(json.score, 0.7346);
      assert.equal(json.reasons[0]?.weight, 0.4123);
      assert.deepEqual(decodeDecision(encodeDecision(decision(), 'avro')), json);
    });

    it('keeps the contract field order in JSON', () => {
      const keys = Object.keys(JSON.parse(encodeDecision(decision(), 'json').toString('utf8')) as object);
      assert.deepEqual(keys, Object.keys(decision()));
    });

    it('round-trips scores 0 and 1 and no reasons', () => {
      for (const score of [0, 1, 0.00004, 0.99996]) {
        const d = decision({ score, reasons: [], decision: 'ALLOW' });
        for (const format of FORMATS) {
          assert.deepEqual(decodeDecision(encodeDecision(d, format)), {
            ...d,
            score: Math.round(score * 1e4) / 1e4,
          });
        }
      }
    });

    it('reads decisions written with version 1 of the schema, bare or framed, as v2 with nulls', () => {
      const reg = defaultRegistry();
      const v1 = reg.byId(2);
      assert.ok(v1);
      const { action: _a, policy_version: _v, policy_rule: _r, ...old } = rounded;
      const bare = v1.toBuffer(old);
      const expected = { ...rounded, action: null, policy_version: null, policy_rule: null };
      assert.deepEqual(decodeDecision(bare), expected);
      assert.deepEqual(decodeDecision(Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), bare])), expected);
      assert.equal(reg.defaultIds.decision, 4);
    });

    it('frames Confluent output with the registry id, or the one given', () => {
      const def = encodeDecision(decision(), 'confluent');
      assert.deepEqual([...def.subarray(0, 5)], [0, 0, 0, 0, defaultRegistry().defaultIds.decision]);
      assert.deepEqual(def.subarray(5), encodeDecision(decision(), 'avro'));
      const custom = encodeDecision(decision(), 'confluent', 0x01020304);
      assert.deepEqual([...custom.subarray(0, 5)], [0, 1, 2, 3, 4]);
      assert.throws(() => decodeDecision(custom), { code: 'INPUT_INVALID', message: /schema id 16909060/ });
    });

    it('refuses a decision that does not fit the schema', () => {
      const bad = decision({ decision: 'MAYBE' as Decision['decision'] });
      assert.throws(() => encodeDecision(bad, 'avro'), {
        code: 'SCHEMA_INVALID',
        message: /decision 5f0e7c1a/,
      });
      assert.throws(() => encodeDecision(decision(), 'confluent', -1), { code: 'SCHEMA_INVALID' });
    });

    it('decodeDecision throws INPUT_INVALID on garbage, fast', () => {
      const good = encodeDecision(decision(), 'avro');
      // An empty reasons array is one 0x00 before the three null unions of v2 (0x00 each);
      // announce 2^30 reasons instead.
      const empty = encodeDecision(
        decision({ reasons: [], action: null, policy_version: null, policy_rule: null }),
        'avro',
      );
      const evil = Buffer.concat([
        empty.subarray(0, empty.length - 4),
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08, 0x02]),
      ]);
      assert.throws(() => decodeDecision(evil), {
        code: 'INPUT_INVALID',
        message: /block of 1073741824 items/,
      });
      for (const buf of [
        Buffer.alloc(0),
        Buffer.from('{"nope'),
        Buffer.from('{"score": 1}'),
        good.subarray(0, 30),
        evil,
      ]) {
        assert.throws(() => decodeDecision(buf), { code: 'INPUT_INVALID' }, buf.toString('hex'));
      }
    });
  });

  describe('DeadLetter', () => {
    for (const format of ['avro', 'confluent'] as const) {
      it(`round-trips as ${format}`, () => {
        for (const dl of [
          deadLetter(),
          deadLetter({ key: null, partition: null, offset: null, line: 12, payload: Buffer.alloc(0) }),
        ]) {
          assert.deepEqual(decodeDeadLetter(encodeDeadLetter(dl, format)), dl);
        }
      });
    }

    it('JSON: bytes as base64, payload_utf8 only for valid UTF-8', () => {
      const binary = JSON.parse(encodeDeadLetter(deadLetter(), 'json').toString('utf8')) as DeadLetterJson;
      assert.equal(binary.payload, 'AP8QgA==');
      assert.equal(binary.key, Buffer.from('s-test').toString('base64'));
      assert.equal(binary.payload_utf8, null);
      const text = deadLetter({ payload: Buffer.from('{"event_id": "é"'), key: null, line: 3 });
      const j = JSON.parse(encodeDeadLetter(text, 'json').toString('utf8')) as DeadLetterJson;
      assert.equal(j.payload_utf8, '{"event_id": "é"');
      assert.equal(j.key, null);
      assert.equal(j.line, 3);
    });

    it('JSON round-trips back to bytes', () => {
      for (const dl of [
        deadLetter(),
        deadLetter({ key: null, reason_code: 'INVALID_JSON', payload: Buffer.from('not json') }),
      ]) {
        assert.deepEqual(decodeDeadLetter(encodeDeadLetter(dl, 'json')), dl);
      }
    });

    it('passes unknown reason codes through (string in the schema, not an enum)', () => {
      const future = deadLetter({ reason_code: 'SOMETHING_NEW' as DeadLetter['reason_code'] });
      assert.equal(decodeDeadLetter(encodeDeadLetter(future, 'avro')).reason_code, 'SOMETHING_NEW');
    });
  });

  describe('SessionAction', () => {
    it('round-trips through the reader schema in every format', () => {
      const a = action({ records: 3, mfa: false, resource: 'acct/1' });
      const type = defaultRegistry().sessionActionType;
      assert.deepEqual(
        {
          ...type.fromBuffer(encodeAction(a, 'avro')),
          client: { ...type.fromBuffer(encodeAction(a, 'avro')).client },
        },
        a,
      );
      assert.deepEqual(encodeAction(a, 'confluent', 7), confluentFrame(7, encodeAction(a, 'avro')));
      assert.deepEqual(JSON.parse(encodeAction(a, 'json').toString('utf8')), a);
    });

    it('writes absent optional fields as null and drops extras', () => {
      const a = action();
      const sparse = {
        ...a,
        extra: 1,
        resource: undefined,
        client: { ...a.client, ja4: undefined },
      } as unknown as typeof a;
      const j = JSON.parse(encodeAction(sparse, 'json').toString('utf8')) as typeof a;
      assert.equal(j.resource, null);
      assert.equal(j.client.ja4, null);
      assert.equal('extra' in j, false);
    });
  });
});
