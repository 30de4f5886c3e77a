import type { Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import { envName, loadSettings, settingPaths } from '../../src/config/load';
import type { Settings } from '../../src/config/schema';
import type { Decision, SessionAction } from '../../src/contract';
import { decodeDecision, encodeAction } from '../../src/emit/encode';
import {
  KAFKA_BROKERS,
  REDIS_URL,
  collect,
  createTopics,
  deleteKeys,
  deleteTopics,
  testKafka,
  testRedis,
  uniqueName,
} from './services';

/** A topic setting of the engine: `actionsTopic` is kafka.actionsTopic. */
export type TopicSetting = Extract<keyof Settings['kafka'], `${string}Topic`>;

/** Every topic setting, read off the schema: a new one is covered without a change here. */
export function topicSettings(): TopicSetting[] {
  return settingPaths()
    .filter(([section, leaf]) => section === 'kafka' && leaf.endsWith('Topic'))
    .map(([, leaf]) => leaf as TopicSetting);
}

export interface SandboxOptions<T extends TopicSetting> {
  /** The topic settings that get a topic of their own (created by setUp). */
  topics: readonly T[];
  /** Of those, the ones setUp leaves for the engine to create (`run` creates its output topics). */
  engineCreates?: readonly T[];
  /** @default 3 */
  partitions?: number;
}

/**
 * One test file's own topics, consumer groups and Redis key prefix on the real Kafka and Redis,
 * all named after `tag`: setUp() in `before`, tearDown() in `after` once its engines are stopped.
 */
export class Sandbox<T extends TopicSetting> {
  readonly kafka = testKafka();
  /** Connected by setUp. */
  readonly admin = this.kafka.admin();
  /** The topic's name per topic setting. */
  readonly topics: Record<T, string>;
  /** Every Redis key of the sandbox starts with this (it ends with ':'). */
  readonly prefix: string;
  private client?: Redis;
  private connected?: Promise<Producer>;
  /** Topics send() wrote to, its own or not: tearDown deletes them too. */
  private readonly sentTo = new Set<string>();

  constructor(
    readonly tag: string,
    private readonly opts: SandboxOptions<T>,
  ) {
    this.topics = Object.fromEntries(
      opts.topics.map((leaf) => [leaf, uniqueName(`${tag}-${leaf}`)]),
    ) as Record<T, string>;
    this.prefix = `${uniqueName(`rs-${tag}`)}:`;
  }

  /** Connected on first use. */
  get redis(): Redis {
    return (this.client ??= testRedis());
  }

  async setUp(): Promise<void> {
    await this.admin.connect();
    const created = this.opts.topics.filter((leaf) => !this.opts.engineCreates?.includes(leaf));
    await createTopics(
      this.admin,
      created.map((leaf) => this.topics[leaf]),
      this.opts.partitions ?? 3,
    );
  }

  /** Deletes its topics, those send() wrote to and the keys under the prefix; closes the clients. */
  async tearDown(): Promise<void> {
    // The producer first: a broker that auto-creates topics would recreate one it still follows.
    if (this.connected) await (await this.connected).disconnect();
    await deleteTopics(this.admin, [...new Set([...Object.values<string>(this.topics), ...this.sentTo])]);
    await deleteKeys(this.redis, this.prefix);
    await this.admin.disconnect();
    this.redis.disconnect();
  }

  /** One producer for the sandbox, connected on first use. */
  producer(): Promise<Producer> {
    return (this.connected ??= (async () => {
      const producer = this.kafka.producer();
      await producer.connect();
      return producer;
    })());
  }

  /** Actions onto a topic as the edge sends them: Avro, keyed by session. */
  async send(topic: string, actions: readonly SessionAction[]): Promise<void> {
    const producer = await this.producer();
    this.sentTo.add(topic);
    await producer.send({
      topic,
      messages: actions.map((a) => ({ key: a.session_id, value: encodeAction(a, 'avro') })),
    });
  }

  /**
   * The decisions on a topic from its start, once there are `until` of them (or `until` holds of
   * them) or the timeout passes.
   */
  decisions(
    topic: string,
    until: number | ((ds: Decision[]) => boolean),
    timeoutMs = 60_000,
  ): Promise<Decision[]> {
    const done = typeof until === 'number' ? (ds: Decision[]) => ds.length >= until : until;
    return collect(this.kafka, topic, decodeDecision, done, timeoutMs);
  }

  /** Per partition of `topic`: the offset `group` has committed ('-1': none) and the partition's end. */
  async offsets(
    group: string,
    topic: string,
  ): Promise<{ partition: number; committed: string; end: string }[]> {
    const [committed] = await this.admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (await this.admin.fetchTopicOffsets(topic)).map((p) => ({
      partition: p.partition,
      committed: committed!.partitions.find((c) => c.partition === p.partition)!.offset,
      end: p.high,
    }));
  }

  /**
   * Settings for an engine in this process on the sandbox: its topics, a new consumer group reading
   * from the beginning, its Redis key prefix, logging at TEST_LOG_LEVEL or warn. `overrides` are
   * sections of settings as loadSettings takes them; they add to these or replace them.
   */
  settings(overrides: Record<string, Record<string, unknown>> = {}): Settings {
    const { kafka, redis, log, ...rest } = overrides;
    return loadSettings({
      env: {},
      overrides: {
        ...rest,
        kafka: {
          brokers: KAFKA_BROKERS,
          groupId: uniqueName(`${this.tag}-engine`),
          ...this.topics,
          fromBeginning: true,
          ...kafka,
        },
        redis: { url: REDIS_URL, keyPrefix: this.prefix, ...redis },
        log: { level: process.env.TEST_LOG_LEVEL ?? 'warn', ...log },
      },
    });
  }

  /**
   * The environment of a child engine or CLI command on the sandbox: its brokers and topics, a new
   * consumer group (reading from the default position), its Redis and key prefix; then `extra`.
   */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      RISK_STREAM_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      ...Object.fromEntries(
        Object.entries<string>(this.topics).map(([leaf, name]) => [envName(['kafka', leaf]), name]),
      ),
      RISK_STREAM_KAFKA_GROUP_ID: uniqueName(`${this.tag}-group`),
      RISK_STREAM_REDIS_URL: REDIS_URL,
      RISK_STREAM_REDIS_KEY_PREFIX: this.prefix,
      ...extra,
    };
  }
}
