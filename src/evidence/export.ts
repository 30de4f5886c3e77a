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
 * short would not verify), one copy of each (re-decided batches write a record again), ordered by
 * session, chain start and seq.
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
    const seen = new Set<string>();
    const list = chains
      .get(key)!
      .filter((r) => {
        const id = `${r.seq}\n${r.evidence_id}`;
        if (seen.has(id)) return false;
        seen.add(id);
        return true;
      })
      .sort((a, b) => a.seq - b.seq);
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
  let total = 0n;
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      throw new RiskStreamError('CONFIG_INVALID', `audit topic "${topic}" does not exist (kafka.auditTopic)`);
    }
    const [offsets, starts] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchTopicOffsetsByTimestamp(topic, 0),
    ]);
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    for (const s of starts) total += (ends.get(s.partition) ?? 0n) - BigInt(s.offset);
  } finally {
    await admin.disconnect();
  }
  const pending = new Set([...ends].filter(([, end]) => end > 0n).map(([p]) => p));
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
