import assert from 'node:assert/strict';
import type { Admin, Kafka } from 'kafkajs';
import { RiskStreamError } from '../../../src/errors';
import { ProducerThread, pack, unpack } from '../../../src/emit/thread';
import { KAFKA_BROKERS, createTopics, deleteTopics, testKafka, uniqueName } from '../../helpers/services';

interface Seen {
  key: string | null;
  value: string;
  header: string | undefined;
  partition: number;
}

async function readAll(kafka: Kafka, topic: string, count: number): Promise<Seen[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('thread-reader') });
  const seen: Seen[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} records`)), 30_000);
    void consumer.run({
      eachMessage: async ({ message, partition }) => {
        seen.push({
          key: message.key?.toString() ?? null,
          value: message.value!.toString(),
          header: message.headers?.decision?.toString(),
          partition,
        });
        if (seen.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  try {
    await done;
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

describe('emit/thread pack and unpack', () => {
  it('round-trips keys, values and the header through one buffer per topic', () => {
    const { packed, transfer } = pack([
      {
        topic: 't',
        headerName: 'decision',
        messages: [
          { key: 's1', value: Buffer.from('first'), header: 'ALLOW' },
          { key: Buffer.from([0, 1, 2]), value: Buffer.alloc(0), header: 'TERMINATE' },
          { key: null, value: Buffer.from('third ✓'), header: 'STEP_UP' },
        ],
      },
    ]);
    assert.equal(transfer.length, 1);
    assert.equal(transfer[0], packed[0]!.bytes.buffer);
    const { topic, messages } = unpack(structuredClone(packed[0]!));
    assert.equal(topic, 't');
    assert.deepEqual(
      messages.map((m) => [m.key, m.value?.toString(), m.headers]),
      [
        ['s1', 'first', { decision: 'ALLOW' }],
        [Buffer.from([0, 1, 2]), '', { decision: 'TERMINATE' }],
        [null, 'third ✓', { decision: 'STEP_UP' }],
      ],
    );
  });
});

describe('emit/thread ProducerThread (real Kafka)', function () {
  const kafka = testKafka('thread-test');
  let admin: Admin;
  const topic = uniqueName('thread-out');

  before(async () => {
    admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, [topic], 3);
  });
  after(async () => {
    await deleteTopics(admin, [topic]);
    await admin.disconnect();
  });

  it('produces every record with its key and header, keyed to a stable partition', async () => {
    const thread = new ProducerThread({ clientId: 'thread-test', brokers: KAFKA_BROKERS });
    try {
      const batches = [0, 1, 2].map((b) =>
        Array.from({ length: 400 }, (_, i) => ({
          key: `s${i % 7}`,
          value: Buffer.from(`b${b}-r${i}`),
          header: i % 2 ? 'STEP_UP' : 'ALLOW',
        })),
      );
      // Three sends in flight at once, as with several partitions processed concurrently.
      await Promise.all(
        batches.map((messages) => thread.send([{ topic, headerName: 'decision', messages }])),
      );
    } finally {
      await thread.close();
    }
    const seen = await readAll(kafka, topic, 1200);
    assert.equal(seen.length, 1200);
    assert.equal(new Set(seen.map((s) => s.value)).size, 1200);
    const partitionOf = new Map<string, Set<number>>();
    for (const s of seen) {
      const r = Number(/-r(\d+)$/.exec(s.value)![1]);
      assert.equal(s.key, `s${r % 7}`);
      assert.equal(s.header, r % 2 ? 'STEP_UP' : 'ALLOW');
      partitionOf.set(s.key!, (partitionOf.get(s.key!) ?? new Set()).add(s.partition));
    }
    for (const [key, partitions] of partitionOf) assert.equal(partitions.size, 1, key);
  });

  it('fails start-up with a retriable SINK_FAILED when no broker answers', async () => {
    const thread = new ProducerThread({
      clientId: 'thread-test',
      brokers: ['127.0.0.1:1'],
      connectionTimeout: 300,
      retry: { retries: 0 },
    });
    await assert.rejects(
      thread.send([{ topic, messages: [{ key: 'k', value: Buffer.from('v') }] }]),
      (err: unknown) => err instanceof RiskStreamError && err.code === 'SINK_FAILED' && err.retriable,
    );
    await thread.close();
  });
});
