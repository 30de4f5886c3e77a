import type { Consumer, Kafka } from 'kafkajs';
import type { Decision } from '../../src/contract';
import { canonicalJson } from '../../src/evidence/record';
import { decodeDecision } from '../../src/emit/encode';
import { uniqueName, waitUntil } from '../helpers/services';

/**
 * What a decision says, apart from when it was made: the fields a redelivered event must repeat
 * exactly (decided_at is the wall clock of the run that decided it, so it may differ).
 */
export function decisionContent(d: Decision): string {
  const { decided_at: _decidedAt, ...content } = d;
  return canonicalJson(content);
}

/**
 * A consumer of a decisions topic that does what the README asks of one: it dedupes by decision_id.
 * It follows the topic from its start while a test runs, and counts what it read (raw), the distinct
 * decisions, and copies of a decision that say something else than its first copy.
 */
export class DecisionTally {
  /** The first copy of each decision, by decision_id. */
  readonly decisions = new Map<string, Decision>();
  /** Records read, duplicates included. */
  raw = 0;
  /** Copies of a decision (same decision_id) whose content differs from the first copy's. */
  readonly conflicts: { first: Decision; copy: Decision }[] = [];
  /** Next offset to read, per partition. */
  private readonly next = new Map<number, bigint>();
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  get distinct(): number {
    return this.decisions.size;
  }

  get duplicates(): number {
    return this.raw - this.decisions.size;
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: uniqueName('tally'), maxWaitTimeInMs: 100 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (!m.value) continue;
          this.raw++;
          const d = decodeDecision(m.value);
          const first = this.decisions.get(d.decision_id);
          if (!first) this.decisions.set(d.decision_id, d);
          else if (decisionContent(first) !== decisionContent(d)) this.conflicts.push({ first, copy: d });
        }
        if (batch.messages.length > 0) this.next.set(batch.partition, BigInt(batch.lastOffset()) + 1n);
      },
    });
  }

  /** Waits until every record the topic holds now has been read; resolves whether it got there. */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(this.topic);
      return await waitUntil(() => ends.every((p) => (this.next.get(p.partition) ?? 0n) >= BigInt(p.high)), {
        timeoutMs,
        intervalMs: 50,
      });
    } finally {
      await admin.disconnect();
    }
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = undefined;
  }
}
