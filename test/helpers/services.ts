import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';

/** The real servers `npm test` started (scripts/test.sh); never mocks. */
export const KAFKA_BROKERS = (process.env.RISK_STREAM_TEST_KAFKA ?? '127.0.0.1:19092').split(',');
export const REDIS_URL = process.env.RISK_STREAM_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export const uniqueName = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

export function testKafka(clientId = 'risk-stream-test'): Kafka {
  return new Kafka({ clientId, brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
}

export async function createTopics(admin: Admin, topics: string[], partitions = 3): Promise<void> {
  await admin.createTopics({
    topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
    waitForLeaders: true,
  });
}

export async function deleteTopics(admin: Admin, topics: string[]): Promise<void> {
  await admin.deleteTopics({ topics }).catch(() => undefined);
}

export function testRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
}

/** Deletes every key under a prefix (tests use a random prefix each). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** Reads a topic from the start until `done` says so or the timeout passes. */
export async function collect<T>(
  kafka: Kafka,
  topic: string,
  decode: (value: Buffer) => T,
  done: (items: T[]) => boolean,
  timeoutMs = 60_000,
): Promise<T[]> {
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('collector') });
  const items: T[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) if (m.value) items.push(decode(m.value));
      if (done(items)) resolveDone();
    },
  });
  const timer = setTimeout(resolveDone, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  return items;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP port nothing listens on right now (for a child process's HTTP server). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/**
 * Polls `check` (a rejection counts as not yet) until it holds, `giveUpIf` does, or the timeout
 * passes; resolves whether it held.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  {
    timeoutMs = 30_000,
    intervalMs = 250,
    giveUpIf = () => false,
  }: { timeoutMs?: number; intervalMs?: number; giveUpIf?: () => boolean } = {},
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await Promise.resolve()
      .then(check)
      .catch(() => false);
    if (held) return true;
    if (giveUpIf() || Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}
