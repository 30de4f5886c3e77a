import type { EvidenceRecord } from '../contract';
import { GENESIS_HASH, canonicalJson, evidenceHash } from './record';

/** One problem `verify` found, with the line of the record it concerns. */
export interface ChainProblem {
  /** 1-based line in the file (0: none, e.g. a record missing at the end). */
  line: number;
  session_id: string | null;
  chain: string | null;
  seq: number | null;
  problem: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  sessions: number;
  chains: number;
  /** Records written again by a re-decided batch (same evidence_id and seq): counted once. */
  copies: number;
  problems: ChainProblem[];
}

interface Placed {
  line: number;
  record: EvidenceRecord;
}

const REQUIRED: (keyof EvidenceRecord)[] = [
  'evidence_id',
  'session_id',
  'chain',
  'seq',
  'prev_hash',
  'hash',
  'decision',
];

/**
 * Checks evidence records (JSON Lines, in any order): each record's hash against its content, and
 * each session's chain from seq 1: no gaps, every prev_hash the hash of the record before, no two
 * different records at one place. Says where it breaks.
 */
export function verifyEvidence(lines: Iterable<string>): VerifyReport {
  const problems: ChainProblem[] = [];
  const chains = new Map<string, Map<number, Placed[]>>();
  let records = 0;
  let lineNo = 0;
  for (const text of lines) {
    lineNo++;
    if (text.trim() === '') continue;
    let record: EvidenceRecord;
    try {
      record = JSON.parse(text) as EvidenceRecord;
    } catch (err) {
      problems.push(at(lineNo, null, `not JSON: ${(err as Error).message}`));
      continue;
    }
    const missing = REQUIRED.filter((k) => record?.[k] === undefined || record?.[k] === null);
    if (typeof record !== 'object' || record === null || missing.length > 0) {
      problems.push(at(lineNo, null, `not an evidence record (missing ${missing.join(', ')})`));
      continue;
    }
    // The chain walk does arithmetic on seq: anything else would be reported as a nonsense gap.
    if (!Number.isInteger(record.seq) || record.seq < 1) {
      problems.push(
        at(
          lineNo,
          null,
          `not an evidence record (seq ${JSON.stringify(record.seq)} is not a whole number from 1)`,
        ),
      );
      continue;
    }
    records++;
    if (evidenceHash(record) !== record.hash) {
      problems.push(
        at(
          lineNo,
          record,
          'altered: its hash does not match its content (a field was changed after sealing)',
        ),
      );
    }
    const key = `${record.session_id}\n${record.chain}`;
    let bySeq = chains.get(key);
    if (!bySeq) chains.set(key, (bySeq = new Map()));
    const placed = bySeq.get(record.seq);
    if (placed) placed.push({ line: lineNo, record });
    else bySeq.set(record.seq, [{ line: lineNo, record }]);
  }

  let copies = 0;
  const sessions = new Set<string>();
  for (const bySeq of chains.values()) {
    const seqs = [...bySeq.keys()].sort((a, b) => a - b);
    const first = bySeq.get(seqs[0]!)![0]!.record;
    sessions.add(first.session_id);
    let prev: Placed[] | null = null;
    let expected = 1;
    for (const seq of seqs) {
      const here = bySeq.get(seq)!;
      const head = here[0]!;
      // Copies of one record (a batch re-decided after a crash) count once. Such a copy is sealed
      // again with its new decision time, and may differ from the first in nothing else.
      const others = here.filter((p) => p.record.evidence_id !== head.record.evidence_id);
      copies += here.length - 1 - others.length;
      for (const c of here.slice(1)) {
        if (c.record.evidence_id !== head.record.evidence_id || c.record.hash === head.record.hash) continue;
        const differ = differentFields(head.record, c.record);
        if (differ.length > 0) {
          problems.push(
            at(
              c.line,
              c.record,
              `a second version of seq ${seq} (line ${head.line}) differs in ${differ.join(', ')}; a batch decided again differs only in decided_at`,
            ),
          );
        }
      }
      for (const o of others) {
        problems.push(
          at(o.line, o.record, `two different records at seq ${seq} (the other on line ${head.line})`),
        );
      }
      if (seq !== expected) {
        const gap = seq - expected === 1 ? `seq ${expected} is` : `seq ${expected}..${seq - 1} are`;
        problems.push(
          at(head.line, head.record, `${gap} missing before this record (deleted or not exported)`),
        );
      } else if (seq === 1) {
        if (head.record.prev_hash !== GENESIS_HASH || head.record.chain !== head.record.evidence_id) {
          problems.push(
            at(head.line, head.record, 'seq 1 does not start a chain (prev_hash or chain is wrong)'),
          );
        }
      } else if (prev && !here.some((p) => prev!.some((q) => q.record.hash === p.record.prev_hash))) {
        problems.push(
          at(
            head.line,
            head.record,
            `prev_hash does not match the hash of seq ${seq - 1} (line ${prev[0]!.line}): that record was altered or replaced`,
          ),
        );
      }
      prev = here;
      expected = seq + 1;
    }
  }
  problems.sort((a, b) => a.line - b.line);
  return {
    ok: problems.length === 0,
    records,
    sessions: sessions.size,
    chains: chains.size,
    copies,
    problems,
  };
}

/** Top-level fields (other than hash and decided_at) in which two records differ. */
function differentFields(a: EvidenceRecord, b: EvidenceRecord): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  keys.delete('hash');
  keys.delete('decided_at');
  const av = a as unknown as Record<string, unknown>;
  const bv = b as unknown as Record<string, unknown>;
  return [...keys].filter((k) => canonicalJson(av[k]) !== canonicalJson(bv[k])).sort();
}

function at(line: number, r: EvidenceRecord | null, problem: string): ChainProblem {
  return {
    line,
    session_id: r?.session_id ?? null,
    chain: r?.chain ?? null,
    seq: r?.seq ?? null,
    problem,
  };
}
