import assert from 'node:assert/strict';
import type { EvidenceRecord } from '../../../src/contract';
import { chainEvidence, evidenceHash } from '../../../src/evidence/record';
import { verifyEvidence, type ChainProblem, type VerifyReport } from '../../../src/evidence/verify';
import { T0, evidenceBody, jsonLines, sealChain } from './fixtures';

const ALTERED = 'altered: its hash does not match its content (a field was changed after sealing)';
const NOT_RECORD =
  'not an evidence record (missing evidence_id, session_id, chain, seq, prev_hash, hash, decision)';

/** What verify says about one line. */
const problem = (line: number, r: EvidenceRecord | null, text: string): ChainProblem => ({
  line,
  session_id: r?.session_id ?? null,
  chain: r?.chain ?? null,
  seq: r?.seq ?? null,
  problem: text,
});

const report = (
  counts: Omit<VerifyReport, 'ok' | 'problems'>,
  problems: ChainProblem[] = [],
): VerifyReport => ({
  ok: problems.length === 0,
  ...counts,
  problems,
});

/** `r` with some fields changed and, like an attacker who knows the scheme, its hash recomputed. */
function resealed(r: EvidenceRecord, change: Partial<EvidenceRecord>): EvidenceRecord {
  const { hash: _hash, ...rest } = { ...r, ...change };
  return { ...rest, hash: evidenceHash(rest) };
}

/** A fixed shuffle, so a failure reproduces. */
const interleave = <T>(items: readonly T[]): T[] => [
  ...items.filter((_, i) => i % 3 === 2),
  ...items.filter((_, i) => i % 3 === 0).reverse(),
  ...items.filter((_, i) => i % 3 === 1),
];

describe('evidence/verify', () => {
  describe('intact evidence', () => {
    it('verifies the chains of several sessions in any order, with the counts', () => {
      const first = sealChain('s-1', 3);
      // The same session after its state expired: a new chain from seq 1.
      const second = sealChain('s-1', 2, { first: 40, ts: T0 + 3 * 3_600_000 });
      const records = [
        ...first,
        ...second,
        ...sealChain('s-2', 4, { user: 'u-bob' }),
        ...sealChain('s-3', 1, { user: 'u-carol', decision: 'TERMINATE' }),
      ];
      assert.notEqual(second[0]!.chain, first[0]!.chain);
      const expected = report({ records: 10, sessions: 3, chains: 4, copies: 0 });
      assert.deepEqual(verifyEvidence(jsonLines(records)), expected);
      assert.deepEqual(verifyEvidence(jsonLines(interleave(records))), expected);
      assert.deepEqual(verifyEvidence(jsonLines([...records].reverse())), expected);
    });

    it('says ok with zero counts for an empty file', () => {
      assert.deepEqual(verifyEvidence([]), report({ records: 0, sessions: 0, chains: 0, copies: 0 }));
      assert.deepEqual(verifyEvidence(['']), report({ records: 0, sessions: 0, chains: 0, copies: 0 }));
    });

    it('ignores blank lines but counts them in line numbers', () => {
      const [a, b, c] = sealChain('s-1', 3);
      const lines = [
        '',
        JSON.stringify(a),
        '   ',
        JSON.stringify({ ...b!, score: 0.01 }),
        JSON.stringify(c),
        '',
      ];
      assert.deepEqual(
        verifyEvidence(lines),
        report({ records: 3, sessions: 1, chains: 1, copies: 0 }, [problem(4, b!, ALTERED)]),
      );
    });

    it('reads a file the way the CLI does (split on \\n), also with CRLF line ends', () => {
      const records = sealChain('s-1', 3);
      const text = jsonLines(records).join('\r\n') + '\r\n';
      assert.deepEqual(
        verifyEvidence(text.split('\n')),
        report({ records: 3, sessions: 1, chains: 1, copies: 0 }),
      );
    });

    it('survives JSON serialisation: floats, non-finite features and unicode hash the same after parsing', () => {
      const session = 'sess-東京-🙂';
      const user = 'zoë.łukasz@exämple.com';
      const features = { travel_speed: Infinity, distance_prev: NaN, rate_1m: 1 / 3, new_device: 1 };
      const a = chainEvidence(null, {
        ...evidenceBody(session, 1, { user, score: 0.1 + 0.2, features }),
        policy_rule: 'règle « export » — 高',
      });
      const ua = 'Mozilla/5.0 \ud800 (broken surrogate) "quoted" \\ back\tslash\u2028';
      const bodyB = evidenceBody(session, 2, { user, score: -0 });
      const b = chainEvidence(a.head, {
        ...bodyB,
        action: { ...bodyB.action, client: { ...bodyB.action.client, user_agent: ua } },
      });
      const lines = jsonLines([a.record, b.record]);
      const parsed = JSON.parse(lines[0]!) as EvidenceRecord;
      assert.equal(parsed.score, 0.30000000000000004);
      assert.equal(parsed.features!['travel_speed'], null);
      assert.equal(parsed.session_id, session);
      assert.equal(evidenceHash(parsed), a.record.hash);
      assert.deepEqual(verifyEvidence(lines), report({ records: 2, sessions: 1, chains: 1, copies: 0 }));
    });
  });

  describe('tampering', () => {
    const chain = () => sealChain('s-1', 5);

    it('reports a changed field on its line as altered, and nothing else', () => {
      const records = chain();
      const lines = jsonLines(records);
      lines[2] = JSON.stringify({ ...records[2]!, decision: 'ALLOW' });
      assert.deepEqual(
        verifyEvidence(lines),
        report({ records: 5, sessions: 1, chains: 1, copies: 0 }, [problem(3, records[2]!, ALTERED)]),
      );
    });

    it('reports a changed nested field, and a field added after sealing', () => {
      const records = chain();
      const lines = jsonLines(records);
      lines[1] = JSON.stringify({ ...records[1]!, action: { ...records[1]!.action, records: 12 } });
      lines[3] = JSON.stringify({ ...records[3]!, reviewed_by: 'analyst-7' });
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(2, records[1]!, ALTERED),
        problem(4, records[3]!, ALTERED),
      ]);
    });

    it('reports a changed hash on its line and on the next record, whose prev_hash no longer matches', () => {
      const records = chain();
      const lines = jsonLines(records);
      lines[1] = JSON.stringify({ ...records[1]!, hash: 'e'.repeat(64) });
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(2, records[1]!, ALTERED),
        problem(
          3,
          records[2]!,
          'prev_hash does not match the hash of seq 2 (line 2): that record was altered or replaced',
        ),
      ]);
    });

    it('catches a record altered and re-sealed: the next record’s prev_hash points at the original', () => {
      const records = chain();
      const lines = jsonLines(records);
      lines[2] = JSON.stringify(resealed(records[2]!, { decision: 'ALLOW', score: 0.02 }));
      assert.deepEqual(
        verifyEvidence(lines),
        report({ records: 5, sessions: 1, chains: 1, copies: 0 }, [
          problem(
            4,
            records[3]!,
            'prev_hash does not match the hash of seq 3 (line 3): that record was altered or replaced',
          ),
        ]),
      );
    });

    it('catches a record replaced by another one sealed on the same head (different evidence_id)', () => {
      const records = chain();
      const fake = chainEvidence(
        { chain: records[0]!.chain, seq: 1, hash: records[0]!.hash },
        evidenceBody('s-1', 99, { decision: 'ALLOW' }),
      );
      const lines = jsonLines(records);
      lines[1] = JSON.stringify(fake.record);
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(
          3,
          records[2]!,
          'prev_hash does not match the hash of seq 2 (line 2): that record was altered or replaced',
        ),
      ]);
    });

    it('reports one deleted record in the middle as "seq k is missing" on the next record', () => {
      const records = chain();
      const lines = jsonLines(records.filter((r) => r.seq !== 3));
      assert.deepEqual(
        verifyEvidence(lines),
        report({ records: 4, sessions: 1, chains: 1, copies: 0 }, [
          problem(3, records[3]!, 'seq 3 is missing before this record (deleted or not exported)'),
        ]),
      );
    });

    it('reports a deleted range as "seq a..b are missing"', () => {
      const records = sealChain('s-1', 8);
      const lines = jsonLines(records.filter((r) => r.seq < 3 || r.seq > 6));
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(3, records[6]!, 'seq 3..6 are missing before this record (deleted or not exported)'),
      ]);
    });

    it('reports a chain whose first record is gone: seq 1 is missing', () => {
      const records = chain();
      const lines = jsonLines(records.slice(1));
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(1, records[1]!, 'seq 1 is missing before this record (deleted or not exported)'),
      ]);
    });

    it('reports the start of a chain cut off: seq 1..k are missing, in any order of lines', () => {
      const records = chain();
      const lines = jsonLines([records[4]!, records[3]!]);
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(2, records[3]!, 'seq 1..3 are missing before this record (deleted or not exported)'),
      ]);
    });

    it('reports a seq 1 whose prev_hash is not the genesis hash', () => {
      const records = chain();
      const lines = jsonLines(records);
      const bad = resealed(records[0]!, { prev_hash: 'a'.repeat(64) });
      lines[0] = JSON.stringify(bad);
      // Re-sealing changed its hash, so seq 2 no longer links to it either.
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(1, bad, 'seq 1 does not start a chain (prev_hash or chain is wrong)'),
        problem(
          2,
          records[1]!,
          'prev_hash does not match the hash of seq 1 (line 1): that record was altered or replaced',
        ),
      ]);
    });

    it('reports a seq 1 whose chain is not its own evidence_id (and the chain it left without a start)', () => {
      const records = chain();
      const bad = resealed(records[0]!, { chain: 'c-elsewhere' });
      const lines = jsonLines([bad, ...records.slice(1)]);
      const r = verifyEvidence(lines);
      assert.deepEqual(r.problems, [
        problem(1, bad, 'seq 1 does not start a chain (prev_hash or chain is wrong)'),
        problem(2, records[1]!, 'seq 1 is missing before this record (deleted or not exported)'),
      ]);
      assert.equal(r.chains, 2);
      assert.equal(r.sessions, 1);
    });

    it('reports a record moved to another session (re-sealed): the chain it left has a gap', () => {
      const records = chain();
      const moved = resealed(records[2]!, { session_id: 's-2' });
      const lines = jsonLines([records[0]!, records[1]!, moved, records[3]!, records[4]!]);
      const r = verifyEvidence(lines);
      assert.deepEqual(r.problems, [
        problem(3, moved, 'seq 1..2 are missing before this record (deleted or not exported)'),
        problem(4, records[3]!, 'seq 3 is missing before this record (deleted or not exported)'),
      ]);
      assert.equal(r.sessions, 2);
    });

    it('reports two different records at one seq (a fork), naming both lines', () => {
      const records = chain();
      const fork = chainEvidence(
        { chain: records[0]!.chain, seq: 1, hash: records[0]!.hash },
        evidenceBody('s-1', 77, { decision: 'ALLOW', action: 'view' }),
      ).record;
      assert.equal(fork.seq, 2);
      assert.equal(fork.prev_hash, records[1]!.prev_hash);
      const lines = jsonLines([...records, fork]);
      assert.deepEqual(
        verifyEvidence(lines),
        report({ records: 6, sessions: 1, chains: 1, copies: 0 }, [
          problem(6, fork, 'two different records at seq 2 (the other on line 2)'),
        ]),
      );
      // Whichever comes first in the file, the fork is reported.
      const reversed = jsonLines([fork, ...records]);
      assert.deepEqual(verifyEvidence(reversed).problems, [
        problem(3, records[1]!, 'two different records at seq 2 (the other on line 1)'),
      ]);
    });

    it('lists the problems of several chains by line', () => {
      const s1 = sealChain('s-1', 4);
      const s2 = sealChain('s-2', 4, { user: 'u-bob' });
      const lines = jsonLines([s2[0]!, s1[0]!, { ...s1[1]!, score: 0.1 }, s2[1]!, s1[2]!, s2[3]!, s1[3]!]);
      assert.deepEqual(verifyEvidence(lines), {
        ok: false,
        records: 7,
        sessions: 2,
        chains: 2,
        copies: 0,
        problems: [
          problem(3, s1[1]!, ALTERED),
          problem(6, s2[3]!, 'seq 3 is missing before this record (deleted or not exported)'),
        ],
      });
    });
  });

  describe('copies written again by a re-decided batch', () => {
    it('counts exact copies (same evidence_id and seq) once, without a problem', () => {
      const records = sealChain('s-1', 3);
      const lines = jsonLines([...records, records[1]!, records[2]!, records[2]!]);
      assert.deepEqual(verifyEvidence(lines), report({ records: 6, sessions: 1, chains: 1, copies: 3 }));
    });

    it('accepts a copy decided again at a later time, with the chain going on from it', () => {
      // The batch was produced, the engine crashed before saving the session state, and the batch
      // was decided again: same evidence_id and seq, a new decided_at, so a different hash.
      const a = chainEvidence(null, evidenceBody('s-1', 1));
      const crashed = chainEvidence(a.head, evidenceBody('s-1', 2));
      const again = chainEvidence(a.head, evidenceBody('s-1', 2, { decidedAt: T0 + 9 * 60_000 }));
      const c = chainEvidence(again.head, evidenceBody('s-1', 3));
      assert.equal(again.record.evidence_id, crashed.record.evidence_id);
      assert.notEqual(again.record.hash, crashed.record.hash);
      const lines = jsonLines([a.record, crashed.record, again.record, c.record]);
      assert.deepEqual(verifyEvidence(lines), report({ records: 4, sessions: 1, chains: 1, copies: 1 }));
    });

    it('still reports an altered copy', () => {
      const records = sealChain('s-1', 3);
      const copy = { ...records[1]!, decision: 'ALLOW' as const };
      const lines = jsonLines([...records, copy]);
      assert.deepEqual(
        verifyEvidence(lines),
        report({ records: 4, sessions: 1, chains: 1, copies: 1 }, [problem(4, copy, ALTERED)]),
      );
    });
  });

  describe('lines that are not evidence', () => {
    it('reports a line that is not JSON with its line number, and checks the rest', () => {
      const records = sealChain('s-1', 3);
      const lines = jsonLines(records);
      lines.splice(1, 0, 'this is not json');
      lines.push(JSON.stringify(records[2]).slice(0, 60)); // a line cut short
      const r = verifyEvidence(lines);
      assert.equal(r.ok, false);
      assert.equal(r.records, 3);
      assert.deepEqual(
        r.problems.map((p) => ({ ...p, problem: p.problem.replace(/:.*/, ':') })),
        [problem(2, null, 'not JSON:'), problem(5, null, 'not JSON:')],
      );
    });

    it('reports JSON that is not an evidence record, naming the missing fields', () => {
      const records = sealChain('s-1', 3);
      const { hash: _h, ...noHash } = records[2]!;
      const lines = [
        ...jsonLines(records.slice(0, 2)),
        '{"event_id":"e-1","decision":"ALLOW"}',
        'null',
        '42',
        '"text"',
        '[]',
        JSON.stringify({ ...records[0]!, decision: null }),
        JSON.stringify(noHash),
      ];
      assert.deepEqual(verifyEvidence(lines), {
        ok: false,
        records: 2,
        sessions: 1,
        chains: 1,
        copies: 0,
        problems: [
          problem(
            3,
            null,
            'not an evidence record (missing evidence_id, session_id, chain, seq, prev_hash, hash)',
          ),
          problem(4, null, NOT_RECORD),
          problem(5, null, NOT_RECORD),
          problem(6, null, NOT_RECORD),
          problem(7, null, NOT_RECORD),
          problem(8, null, 'not an evidence record (missing decision)'),
          problem(9, null, 'not an evidence record (missing hash)'),
        ],
      });
    });

    it('a record that is not one leaves a gap in its chain', () => {
      const records = sealChain('s-1', 3);
      const { hash: _h, ...noHash } = records[1]!;
      const lines = jsonLines([records[0]!, noHash as EvidenceRecord, records[2]!]);
      assert.deepEqual(verifyEvidence(lines).problems, [
        problem(2, null, 'not an evidence record (missing hash)'),
        problem(3, records[2]!, 'seq 2 is missing before this record (deleted or not exported)'),
      ]);
    });

    it('reports a seq that is not a whole number from 1 as not an evidence record', () => {
      const records = sealChain('s-1', 2);
      const zero = resealed(records[0]!, { seq: 0 });
      const text = resealed(records[0]!, { seq: '1' as unknown as number });
      const half = resealed(records[1]!, { seq: 1.5 });
      const lines = jsonLines([...records, zero, text, half]);
      assert.deepEqual(verifyEvidence(lines), {
        ok: false,
        records: 2,
        sessions: 1,
        chains: 1,
        copies: 0,
        problems: [
          problem(3, null, 'not an evidence record (seq 0 is not a whole number from 1)'),
          problem(4, null, 'not an evidence record (seq "1" is not a whole number from 1)'),
          problem(5, null, 'not an evidence record (seq 1.5 is not a whole number from 1)'),
        ],
      });
    });
  });

  describe('limits of what a file alone can show', () => {
    // Nothing after the last record of a chain points at it, and the file has no other anchor (the
    // engine's state holds the head, not the file), so cutting a chain's tail leaves a valid chain.
    it('does not detect a deleted last record of a chain (documented limitation)', () => {
      const records = sealChain('s-1', 5);
      assert.deepEqual(
        verifyEvidence(jsonLines(records.slice(0, 4))),
        report({ records: 4, sessions: 1, chains: 1, copies: 0 }),
      );
    });

    it('does not detect a re-sealed change to the last record either', () => {
      const records = sealChain('s-1', 3);
      const last = resealed(records[2]!, { decision: 'ALLOW', score: 0.01 });
      assert.deepEqual(
        verifyEvidence(jsonLines([records[0]!, records[1]!, last])),
        report({ records: 3, sessions: 1, chains: 1, copies: 0 }),
      );
    });

    it('does not detect a whole chain deleted', () => {
      const lines = jsonLines([...sealChain('s-1', 3), ...sealChain('s-2', 2, { user: 'u-bob' })]);
      assert.deepEqual(
        verifyEvidence(lines.slice(0, 3)),
        report({ records: 3, sessions: 1, chains: 1, copies: 0 }),
      );
    });

    // A batch decided again after a crash writes its records again, sealed with a new decision time:
    // a second version of a record that differs in anything else is not such a copy.
    it('reports a re-sealed altered copy that keeps the evidence_id, naming the fields that differ', () => {
      const records = sealChain('s-1', 3);
      const copy = resealed(records[1]!, { decision: 'ALLOW', score: 0.01 });
      assert.deepEqual(
        verifyEvidence(jsonLines([...records, copy])),
        report({ records: 4, sessions: 1, chains: 1, copies: 1 }, [
          problem(
            4,
            copy,
            'a second version of seq 2 (line 2) differs in decision, score; a batch decided again differs only in decided_at',
          ),
        ]),
      );
    });
  });
});
