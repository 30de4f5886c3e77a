import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { EvidenceRecord, FingerprintSnapshot } from '../../../src/contract';
import {
  CLIENT_PARTS,
  EVIDENCE_VERSION,
  GENESIS_HASH,
  canonicalJson,
  chainEvidence,
  changedParts,
  evidenceHash,
  newParts,
} from '../../../src/evidence/record';
import { evidenceBody } from './fixtures';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The same value with the keys of every object in reverse order. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversedKeys(v)]),
  );
}

const first = () => chainEvidence(null, evidenceBody('s-1', 1)).record;

describe('evidence/record', () => {
  describe('canonicalJson', () => {
    it('sorts the keys of every object, nested ones and those inside arrays, and writes no whitespace', () => {
      const value = { b: 1, a: { d: [{ z: 1, y: { q: true, p: null } }, 3], c: 'x' }, aa: [] };
      assert.equal(
        canonicalJson(value),
        '{"a":{"c":"x","d":[{"y":{"p":null,"q":true},"z":1},3]},"aa":[],"b":1}',
      );
    });

    it('orders keys by UTF-16 code unit, not by insertion or as numbers', () => {
      // Object.entries lists integer-like keys first and numerically ('9' before '10').
      const value = { b: 1, é: 2, a: 3, B: 4, '10': 5, '9': 6, _: 7 };
      assert.equal(canonicalJson(value), '{"10":5,"9":6,"B":4,"_":7,"a":3,"b":1,"é":2}');
    });

    it('keeps arrays in their order', () => {
      assert.equal(canonicalJson(['ja4', 'ip', 'asn']), '["ja4","ip","asn"]');
      assert.equal(canonicalJson([]), '[]');
      assert.equal(canonicalJson({}), '{}');
    });

    it('drops undefined properties and writes undefined array items as null, like JSON.stringify', () => {
      const value = { a: undefined, b: [1, undefined, 2], c: { d: undefined } };
      assert.equal(canonicalJson(value), '{"b":[1,null,2],"c":{}}');
      assert.equal(canonicalJson(undefined), 'null');
    });

    it('writes non-finite numbers as null at every level', () => {
      assert.equal(canonicalJson(NaN), 'null');
      assert.equal(canonicalJson(Infinity), 'null');
      assert.equal(
        canonicalJson({ travel_speed: Infinity, ratio: NaN, list: [-Infinity, 1.5] }),
        '{"list":[null,1.5],"ratio":null,"travel_speed":null}',
      );
    });

    it('writes scalars as JSON does: escapes, unicode as is, floats in shortest form', () => {
      assert.equal(canonicalJson(null), 'null');
      assert.equal(canonicalJson(false), 'false');
      assert.equal(canonicalJson(0.1 + 0.2), '0.30000000000000004');
      assert.equal(canonicalJson(-0), '0');
      assert.equal(canonicalJson('say "hi"\n\t\\'), '"say \\"hi\\"\\n\\t\\\\"');
      assert.equal(canonicalJson('Zoë 🙂 東京'), '"Zoë 🙂 東京"');
    });

    it('is the same bytes for the same content whatever the key order, and parses back to it', () => {
      const body = evidenceBody('s-1', 1);
      const text = canonicalJson(body);
      assert.equal(canonicalJson(reversedKeys(body)), text);
      assert.deepEqual(JSON.parse(text), body);
      assert.doesNotMatch(text, /\s"|":\s|,\s/);
    });
  });

  describe('evidenceHash', () => {
    it('is the SHA-256 (hex) of the canonical JSON without the hash field', () => {
      const r = first();
      const { hash, ...rest } = r;
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.equal(evidenceHash(r), sha256(canonicalJson(rest)));
      assert.equal(evidenceHash(rest), hash);
    });

    it('ignores the hash a record carries', () => {
      const r = first();
      assert.equal(evidenceHash({ ...r, hash: 'f'.repeat(64) }), r.hash);
    });

    it('does not depend on the order of keys, at any level', () => {
      const r = first();
      assert.equal(evidenceHash(reversedKeys(r) as EvidenceRecord), r.hash);
    });

    const changes: [string, (r: EvidenceRecord) => void][] = [
      ['decision', (r) => (r.decision = 'ALLOW')],
      ['score', (r) => (r.score = 0.8732)],
      ['decided_at', (r) => (r.decided_at += 1)],
      ['seq', (r) => (r.seq = 2)],
      ['prev_hash', (r) => (r.prev_hash = '1'.repeat(64))],
      ['action.records (nested)', (r) => (r.action.records = 12)],
      ['action.client.device_id (two levels down)', (r) => (r.action.client.device_id = 'dev-1')],
      ['reasons[1].weight (in an array)', (r) => (r.reasons[1]!.weight = 0.34)],
      ['fingerprint.changed (order of an array)', (r) => r.fingerprint.changed.reverse()],
      ['features (a key removed)', (r) => delete r.features!['travel_speed']],
      ['features (a key added)', (r) => (r.features!['rate_10m'] = 0)],
      ['user_id (unicode look-alike)', (r) => (r.user_id = 'u-аlice')],
    ];
    for (const [what, change] of changes) {
      it(`changes when ${what} changes`, () => {
        const r = first();
        const altered = structuredClone(r);
        change(altered);
        assert.notEqual(evidenceHash(altered), r.hash);
      });
    }
  });

  describe('chainEvidence', () => {
    it('starts a chain with no head: seq 1, the genesis prev_hash, chain = its own evidence_id', () => {
      const body = evidenceBody('s-1', 1);
      const { record, head } = chainEvidence(null, body);
      assert.equal(record.seq, 1);
      assert.equal(record.prev_hash, GENESIS_HASH);
      assert.equal(GENESIS_HASH, '0'.repeat(64));
      assert.equal(record.chain, body.evidence_id);
      assert.equal(record.evidence_version, EVIDENCE_VERSION);
      assert.equal(record.hash, evidenceHash(record));
      assert.deepEqual(head, { chain: body.evidence_id, seq: 1, hash: record.hash });
    });

    it('keeps the body as given', () => {
      const body = evidenceBody('s-1', 1);
      const before = structuredClone(body);
      const { record } = chainEvidence(null, body);
      const { evidence_version: _v, chain: _c, seq: _s, prev_hash: _p, hash: _h, ...rest } = record;
      assert.deepEqual(rest, body);
      assert.deepEqual(body, before);
    });

    it('links the next record to the head: prev_hash = the head hash, seq + 1, the same chain', () => {
      const a = chainEvidence(null, evidenceBody('s-1', 1));
      const b = chainEvidence(a.head, evidenceBody('s-1', 2));
      const c = chainEvidence(b.head, evidenceBody('s-1', 3));
      assert.equal(b.record.prev_hash, a.record.hash);
      assert.equal(c.record.prev_hash, b.record.hash);
      assert.deepEqual([a.record.seq, b.record.seq, c.record.seq], [1, 2, 3]);
      assert.equal(b.record.chain, a.record.evidence_id);
      assert.equal(c.record.chain, a.record.evidence_id);
      assert.notEqual(b.record.chain, b.record.evidence_id);
      assert.deepEqual(c.head, { chain: a.record.evidence_id, seq: 3, hash: c.record.hash });
      assert.equal(c.record.hash, evidenceHash(c.record));
    });

    it('continues from a head read back from the session state (JSON), not only the object it returned', () => {
      const a = chainEvidence(null, evidenceBody('s-1', 1));
      const b = chainEvidence(a.head, evidenceBody('s-1', 2));
      const stored = JSON.parse(JSON.stringify(a.head)) as typeof a.head;
      assert.deepEqual(chainEvidence(stored, evidenceBody('s-1', 2)), b);
    });

    it('seals the link: the same body after a different head gets a different hash', () => {
      const body = evidenceBody('s-1', 5);
      const h1 = { chain: 'c-1', seq: 4, hash: 'a'.repeat(64) };
      const h2 = { chain: 'c-1', seq: 4, hash: 'b'.repeat(64) };
      assert.notEqual(chainEvidence(h1, body).record.hash, chainEvidence(h2, body).record.hash);
    });

    it('does not change the head it is given', () => {
      const head = { chain: 'c-1', seq: 4, hash: 'a'.repeat(64) };
      chainEvidence(head, evidenceBody('s-1', 5));
      assert.deepEqual(head, { chain: 'c-1', seq: 4, hash: 'a'.repeat(64) });
    });
  });

  describe('changedParts', () => {
    const snap: FingerprintSnapshot = {
      ip: '73.22.10.5',
      asn: 7922,
      country: 'US',
      lat: 40.7128,
      lon: -74.006,
      ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0',
      ja4: 't13d1516h2_8daaf6152771_02713d6af862',
      dev: 'dev-1',
      ts: 1_760_000_000_000,
    };

    it('is empty for a session’s first action (no previous one)', () => {
      assert.deepEqual(changedParts(snap, null), []);
    });

    it('is empty when nothing the parts cover changed (location and time are not parts)', () => {
      const moved: FingerprintSnapshot = { ...snap, lat: 51.5, lon: -0.12, ts: snap.ts + 1 };
      assert.deepEqual(changedParts(moved, snap), []);
    });

    const one: [keyof FingerprintSnapshot, unknown, string][] = [
      ['ip', '185.220.101.7', 'ip'],
      ['asn', 208294, 'asn'],
      ['country', 'NL', 'country'],
      ['ua', 'curl/8.5.0', 'user_agent'],
      ['ja4', 't13d1715h2_5b57614c22b0_3d5424432f57', 'ja4'],
      ['dev', 'dev-7f3a', 'device_id'],
      ['asn', null, 'asn'],
      ['dev', null, 'device_id'],
    ];
    for (const [field, value, part] of one) {
      it(`names ${part} when ${field} becomes ${JSON.stringify(value)}`, () => {
        assert.deepEqual(changedParts({ ...snap, [field]: value }, snap), [part]);
      });
    }

    it('lists every changed part in CLIENT_PARTS order', () => {
      const other = { ip: '1.2.3.4', asn: 1, country: 'DE', ua: 'x', ja4: null, dev: null };
      assert.deepEqual(changedParts(other, snap), [...CLIENT_PARTS]);
      assert.deepEqual(changedParts({ ...snap, dev: 'd2', ip: '1.2.3.4' }, snap), ['ip', 'device_id']);
    });
  });

  describe('newParts', () => {
    const allSeen = { ua: true, ja4: true, dev: true, asn: true, country: true };
    const noneSeen = { ua: false, ja4: false, dev: false, asn: false, country: false };

    it('is empty for a session’s first action, though nothing was seen before it', () => {
      assert.deepEqual(newParts(noneSeen, true), []);
    });

    it('is empty when every part was seen earlier in the session', () => {
      assert.deepEqual(newParts(allSeen, false), []);
    });

    it('lists every unseen part in CLIENT_PARTS order; ip is never listed (not tracked)', () => {
      assert.deepEqual(newParts(noneSeen, false), ['asn', 'country', 'user_agent', 'ja4', 'device_id']);
    });

    const one: [keyof typeof allSeen, string][] = [
      ['asn', 'asn'],
      ['country', 'country'],
      ['ua', 'user_agent'],
      ['ja4', 'ja4'],
      ['dev', 'device_id'],
    ];
    for (const [flag, part] of one) {
      it(`names ${part} when only ${flag} is unseen`, () => {
        assert.deepEqual(newParts({ ...allSeen, [flag]: false }, false), [part]);
      });
    }
  });
});
