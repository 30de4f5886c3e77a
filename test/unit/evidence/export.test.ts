import assert from 'node:assert/strict';
import type { EvidenceRecord } from '../../../src/contract';
import { selectEvidence, type EvidenceFilter } from '../../../src/evidence/export';
import { chainEvidence, type ChainHead, type UnhashedEvidence } from '../../../src/evidence/record';
import { verifyEvidence } from '../../../src/evidence/verify';
import { MIN, T0, evidenceBody, jsonLines, sealChain } from './fixtures';

const HOUR = 60 * MIN;

/** A chain sealed from the given bodies. */
function chainOf(bodies: UnhashedEvidence[]): EvidenceRecord[] {
  let head: ChainHead | null = null;
  return bodies.map((body) => {
    const sealed = chainEvidence(head, body);
    head = sealed.head;
    return sealed.record;
  });
}

/** Where each record is: `<session> <chain start ts> #<seq>`, to compare orders readably. */
const where = (records: readonly EvidenceRecord[]) =>
  records.map((r) => `${r.session_id} ${(r.action.ts - T0) / MIN}m #${r.seq}`);

/** Alice's session with two chains (the state expired in between), Bob's, and another of Alice's. */
function audit() {
  const alice1 = sealChain('s-alice', 3);
  const alice2 = sealChain('s-alice', 2, { first: 10, ts: T0 + 5 * HOUR });
  const bob = sealChain('s-bob', 4, { user: 'u-bob', ts: T0 + 2 * HOUR });
  const aliceMobile = sealChain('s-alice-mobile', 2, { ts: T0 + 3 * HOUR, deviceId: 'dev-iphone' });
  // As a topic gives them back: partitions interleaved, each in its own order.
  const all = [
    bob[0]!,
    alice1[0]!,
    aliceMobile[0]!,
    bob[1]!,
    alice1[1]!,
    alice1[2]!,
    bob[2]!,
    aliceMobile[1]!,
    alice2[0]!,
    bob[3]!,
    alice2[1]!,
  ];
  return { alice1, alice2, bob, aliceMobile, all };
}

describe('evidence/export selectEvidence', () => {
  it('with no filter, gives every record ordered by session, chain start and seq', () => {
    const { alice1, alice2, bob, aliceMobile, all } = audit();
    assert.deepEqual(selectEvidence(all, {}), [...alice1, ...alice2, ...aliceMobile, ...bob]);
  });

  it('by session: that session’s chains, whole and in order, and nothing of other sessions', () => {
    const { alice1, alice2, bob, all } = audit();
    assert.deepEqual(selectEvidence(all, { session: 's-alice' }), [...alice1, ...alice2]);
    assert.deepEqual(selectEvidence(all, { session: 's-bob' }), bob);
  });

  it('by user: every session of the user', () => {
    const { alice1, alice2, aliceMobile, bob, all } = audit();
    assert.deepEqual(selectEvidence(all, { user: 'u-alice' }), [...alice1, ...alice2, ...aliceMobile]);
    assert.deepEqual(selectEvidence(all, { user: 'u-bob' }), bob);
  });

  it('by time: a chain with one record in the range comes out whole', () => {
    const { bob, all } = audit();
    // Only Bob's last record was decided in this range.
    const last = bob[3]!.decided_at;
    const out = selectEvidence(all, { since: last, until: last + 1 });
    assert.deepEqual(out, bob);
    assert.deepEqual(where(out), ['s-bob 120m #1', 's-bob 121m #2', 's-bob 122m #3', 's-bob 123m #4']);
  });

  it('since is inclusive and until exclusive', () => {
    const { alice1, alice2, aliceMobile, bob, all } = audit();
    const start = alice2[0]!.decided_at;
    // Alice's second chain starts at `start`; every other record was decided before it.
    assert.deepEqual(selectEvidence(all, { since: start }), alice2);
    // Its second record still matches: the chain comes out whole.
    assert.deepEqual(selectEvidence(all, { since: start + 1 }), alice2);
    assert.deepEqual(selectEvidence(all, { since: alice2[1]!.decided_at + 1 }), []);
    assert.deepEqual(selectEvidence(all, { until: start }), [...alice1, ...aliceMobile, ...bob]);
    assert.deepEqual(selectEvidence(all, { until: alice1[0]!.decided_at }), []);
    assert.deepEqual(selectEvidence(all, { until: alice1[0]!.decided_at + 1 }), alice1);
  });

  it('a range that only the second chain of a session reaches gives that chain, not the first', () => {
    const { alice2, all } = audit();
    assert.deepEqual(selectEvidence(all, { session: 's-alice', since: T0 + 4 * HOUR }), alice2);
  });

  it('combines the filters: every one must match the same record', () => {
    const { alice1, all } = audit();
    const firstChainEnd = alice1[2]!.decided_at;
    assert.deepEqual(
      selectEvidence(all, { user: 'u-alice', session: 's-alice', until: firstChainEnd + 1 }),
      alice1,
    );
    assert.deepEqual(selectEvidence(all, { user: 'u-bob', session: 's-alice' }), []);
    // Bob's records are in the range, Alice's mobile session is not.
    assert.deepEqual(
      selectEvidence(all, { session: 's-alice-mobile', since: T0 + 2 * HOUR, until: T0 + 3 * HOUR }),
      [],
    );
  });

  it('gives nothing when nothing matches, or there is nothing', () => {
    const { all } = audit();
    const none: EvidenceFilter[] = [
      { session: 's-nobody' },
      { user: 'u-nobody' },
      { since: T0 + 24 * HOUR },
      { until: T0 },
      { since: T0 + 6 * HOUR, until: T0 + HOUR },
    ];
    for (const filter of none) assert.deepEqual(selectEvidence(all, filter), [], JSON.stringify(filter));
    assert.deepEqual(selectEvidence([], {}), []);
  });

  it('gives one copy of a record written again (same seq and evidence_id)', () => {
    const { alice1, all } = audit();
    const out = selectEvidence([...all, alice1[1]!, alice1[2]!, alice1[1]!], { session: 's-alice' });
    assert.deepEqual(where(out), [
      's-alice 1m #1',
      's-alice 2m #2',
      's-alice 3m #3',
      's-alice 300m #1',
      's-alice 301m #2',
    ]);
  });

  it('keeps one whole version of a chain decided twice (a crash after its records were written)', () => {
    const bodies = [1, 2, 3].map((n) => evidenceBody('s-1', n));
    const first = chainOf(bodies);
    const again = chainOf(bodies.map((b) => ({ ...b, decided_at: b.decided_at + 5000 })));
    // Every version but the first links to a version of the record before it: picking per seq
    // would mix the two runs.
    const out = selectEvidence([...first, ...again], {});
    assert.deepEqual(out, again);
    assert.equal(verifyEvidence(jsonLines(out)).ok, true);
    // The second run cut short after its second record: the third, decided later, continues it.
    const third = chainEvidence(
      { chain: again[1]!.chain, seq: 2, hash: again[1]!.hash },
      { ...bodies[2]!, decided_at: bodies[2]!.decided_at + 9000 },
    ).record;
    const mixed = selectEvidence([...first, again[0]!, again[1]!, third], {});
    assert.deepEqual(mixed, [again[0], again[1], third]);
    assert.equal(verifyEvidence(jsonLines(mixed)).ok, true);
  });

  it('orders two chains of a session by their start, not by chain id', () => {
    // The later chain's id sorts first, so only the start time can put it second.
    const late = chainOf([
      { ...evidenceBody('s-1', 20, { ts: T0 + HOUR }), evidence_id: '00000000-0000-5000-8000-000000000020' },
      evidenceBody('s-1', 21, { ts: T0 + HOUR + MIN }),
    ]);
    const early = chainOf([
      { ...evidenceBody('s-1', 1), evidence_id: 'ffffffff-0000-5000-8000-000000000001' },
      evidenceBody('s-1', 2),
    ]);
    assert.deepEqual(selectEvidence([...late, ...early], {}), [...early, ...late]);
    assert.deepEqual(selectEvidence([late[1]!, early[1]!, late[0]!, early[0]!], {}), [...early, ...late]);
  });

  it('orders sessions by id and the records of a chain by seq, whatever order they came in', () => {
    const c = sealChain('s-c', 3);
    const a = sealChain('s-a', 3);
    const b = sealChain('s-b', 3);
    const input = [c[2]!, b[1]!, a[2]!, c[0]!, b[2]!, a[0]!, c[1]!, a[1]!, b[0]!];
    assert.deepEqual(selectEvidence(input, {}), [...a, ...b, ...c]);
  });

  it('is pure: takes any iterable and leaves the input as it was', () => {
    const { alice1, alice2, all } = audit();
    const before = structuredClone(all);
    function* topic() {
      yield* all;
    }
    assert.deepEqual(selectEvidence(topic(), { session: 's-alice' }), [...alice1, ...alice2]);
    selectEvidence(all, { session: 's-alice' });
    assert.deepEqual(all, before);
  });

  it('writes what verify accepts: whole chains, one copy each, through JSON', () => {
    const { alice1, all } = audit();
    const topic = jsonLines([...all, alice1[2]!]).map((l) => JSON.parse(l) as EvidenceRecord);
    const out = selectEvidence(topic, { session: 's-alice', since: alice1[2]!.decided_at });
    assert.deepEqual(verifyEvidence(jsonLines(out)), {
      ok: true,
      records: 5,
      sessions: 1,
      chains: 2,
      copies: 0,
      problems: [],
    });
  });

  // A batch produced, then decided again after a crash before the session state was saved, writes
  // its records again with the same evidence_id and seq but a new decided_at (so a new hash), and
  // the chain goes on from the second copy. selectEvidence keeps the first copy it reads, so the
  // exported chain does not verify. Pending until src/evidence/export.ts keeps the copy the chain
  // goes on from (or every copy: verify accepts them).
  it('keeps the copy of a re-decided record that the chain goes on from', () => {
    const a = chainEvidence(null, evidenceBody('s-1', 1));
    const crashed = chainEvidence(a.head, evidenceBody('s-1', 2));
    const again = chainEvidence(a.head, evidenceBody('s-1', 2, { decidedAt: T0 + 9 * MIN }));
    const c = chainEvidence(again.head, evidenceBody('s-1', 3));
    const topic = [a.record, crashed.record, again.record, c.record];
    assert.equal(verifyEvidence(jsonLines(topic)).ok, true);
    const out = selectEvidence(topic, { session: 's-1' });
    assert.deepEqual(verifyEvidence(jsonLines(out)).problems, []);
  });
});
