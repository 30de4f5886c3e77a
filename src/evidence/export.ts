import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { EvidenceRecord } from '../contract';
import { RiskStreamError } from '../errors';

/** Which records `evidence export` writes: the whole chains of the sessions that match. */
export interface EvidenceFilter {
  session?: string;
  user?: string;
  /** Epoch ms: a chain matches if one of its records was decided at or after this... */
  since?: number;
  /** ...and before this. */
  until?: number;
}

const matches = (r: EvidenceRecord, f: EvidenceFilter) =>
  (f.session === undefined || r.session_id === f.session) &&
  (f.user === undefined || r.user_id === f.user) &&
  (f.since === undefined || r.decided_at >= f.since) &&
  (f.until === undefined || r.decided_at < f.until);

/**
 * The records of every chain with at least one record matching the filter, whole (a chain cut
 * short would not verify), one version of each (re-decided batches write a record again), ordered
 * by session, chain start and seq.
 */
export function selectEvidence(records: Iterable<EvidenceRecord>, filter: EvidenceFilter): EvidenceRecord[] {
  const chains = new Map<string, EvidenceRecord[]>();
  const wanted = new Set<string>();
  for (const r of records) {
    const key = `${r.session_id}\n${r.chain}`;
    const list = chains.get(key);
    if (list) list.push(r);
    else chains.set(key, [r]);
    if (matches(r, filter)) wanted.add(key);
  }
  const out: { start: number; records: EvidenceRecord[] }[] = [];
  for (const key of wanted) {
    const list = onePerRecord(chains.get(key)!);
    out.push({ start: list[0]!.decided_at, records: list });
  }
  out.sort(
    (a, b) =>
      a.records[0]!.session_id.localeCompare(b.records[0]!.session_id) ||
      a.start - b.start ||
      a.records[0]!.chain.localeCompare(b.records[0]!.chain),
  );
  return out.flatMap((c) => c.records);
}

/**
 * One version of each record of a chain, by seq. A batch decided again after a crash writes its
 * records again, sealed with a new decision time: the version kept is the one the next kept record
 * links to, or for the last record the one written last (the one the session's saved state points
 * to). Chosen from the last record back: when a run of records was written twice, every version
 * but the first links to a version of the record before, and only one of those runs is whole.
 */
function onePerRecord(chain: readonly EvidenceRecord[]): EvidenceRecord[] {
  const bySeq = new Map<number, Map<string, EvidenceRecord>>();
  for (const r of chain) {
    let versions = bySeq.get(r.seq);
    if (!versions) bySeq.set(r.seq, (versions = new Map()));
    // A later copy of a record moves to the end: the written-last version is the last entry.
    versions.delete(`${r.evidence_id}\n${r.hash}`);
    versions.set(`${r.evidence_id}\n${r.hash}`, r);
  }
  const seqs = [...bySeq.keys()].sort((a, b) => b - a);
  let linkedTo = new Set<string>();
  const kept = seqs.map((seq) => {
    const versions = [...bySeq.get(seq)!.values()];
    const ids = new Set(versions.map((r) => r.evidence_id));
    // Different records at one seq (a fork) are all kept: verify is to say so, not the export.
    const here = [...ids].map((id) => {
      const same = versions.filter((r) => r.evidence_id === id);
      return same.find((r) => linkedTo.has(r.hash)) ?? same[same.length - 1]!;
    });
    // Only the next seq links: across a gap the written-last version is kept.
    linkedTo = bySeq.has(seq - 1) ? new Set(here.map((r) => r.prev_hash)) : new Set();
    return here;
  });
  return kept.reverse().flat();
}

/**
 * Every record on the audit topic, up to the end it had when the read began. A throwaway consumer
 * group (deleted afterwards); nothing is committed.
 */
export async function readAuditTopic(
  kafka: Kafka,
  topic: string,
  opts: { timeoutMs?: number; onProgress?: (read: number, total: number) => void } = {},
): Promise<{ records: EvidenceRecord[]; unreadable: number }> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  const starts = new Map<number, bigint>();
  let total = 0n;
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      throw new RiskStreamError('CONFIG_INVALID', `audit topic "${topic}" does not exist (kafka.auditTopic)`);
    }
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    for (const o of offsets) {
      starts.set(o.partition, BigInt(o.low));
      total += BigInt(o.high) - BigInt(o.low);
    }
  } finally {
    await admin.disconnect();
  }
  // A partition whose records all aged out (low = high) has nothing to read and never sends a batch.
  const pending = new Set([...ends].filter(([p, end]) => end > (starts.get(p) ?? 0n)).map(([p]) => p));
  const records: EvidenceRecord[] = [];
  let unreadable = 0;
  if (pending.size === 0) return { records, unreadable };

  const groupId = `risk-stream-evidence-export-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition) ?? 0n;
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= end) break;
          try {
            records.push(JSON.parse(m.value?.toString('utf8') ?? '') as EvidenceRecord);
          } catch {
            unreadable++;
          }
        }
        opts.onProgress?.(records.length + unreadable, Number(total));
        const next = BigInt(batch.lastOffset()) + 1n;
        if (next >= end) pending.delete(batch.partition);
        if (pending.size === 0) finish();
      },
    });
    const timeoutMs = opts.timeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RiskStreamError(
              'KAFKA_UNAVAILABLE',
              `reading ${topic} did not reach its end within ${timeoutMs} ms (partitions left: ${[...pending].join(', ')})`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([finished, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
    const cleanup = kafka.admin();
    await cleanup
      .connect()
      .then(() => cleanup.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => cleanup.disconnect().catch(() => undefined));
  }
  return { records, unreadable };
}
