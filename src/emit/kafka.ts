import type { Producer } from 'kafkajs';
import type { DeadLetter, Decision, DecisionType, EvidenceRecord, OutputSink } from '../contract';
import { RiskStreamError } from '../errors';
import { encodeDeadLetter, encodeDecision } from './encode';
import { kafkaMessage, type OutgoingTopic, type ProducerThread } from './thread';

export interface KafkaSinkOptions {
  decisionsTopic: string;
  deadLetterTopic: string;
  /** Where a shadow model's decisions go (same record and header as decisions); none: not written. */
  shadowTopic?: string;
  /** Evidence records (JSON, keyed by session, `decision` header); none: not written. */
  auditTopic?: string;
  /**
   * Per-response topics: each decision of that response is also written there (same record, key
   * and header), e.g. TERMINATE to the identity provider's connector, STEP_UP to the MFA service.
   * In the same produce request as the main topic.
   */
  routes?: Partial<Record<DecisionType, string>>;
  format: 'avro' | 'confluent' | 'json';
  /** Schema ids for the Confluent wire format (schemas/registry.json). */
  decisionSchemaId?: number;
  deadLetterSchemaId?: number;
  /**
   * Dead-letter payloads above this are cut (the reason says so and gives the full size), so a
   * record near the broker's message.max.bytes cannot make its own dead letter unproducible and
   * stall the partition. @default 900 KiB (under Kafka's 1 MiB default)
   */
  maxDeadLetterPayloadBytes?: number;
  /**
   * Most bytes of one topic's records in one produce request; more go in further requests, one
   * after another. The broker's message.max.bytes (1 MiB by default) bounds a partition's whole
   * record batch, and kafkajs puts all of a request's records for a partition in one batch: a few
   * large dead letters together were refused, and the batch retried for ever.
   * @default 900 KiB
   */
  maxRequestTopicBytes?: number;
}

/** Per-record overhead in a record batch, roughly (length, attributes, deltas, header). */
const RECORD_OVERHEAD_BYTES = 64;

const recordBytes = (m: OutgoingTopic['messages'][number]): number =>
  m.value.length +
  (m.key === null ? 0 : typeof m.key === 'string' ? Buffer.byteLength(m.key) : m.key.length) +
  (m.header?.length ?? 0) +
  RECORD_OVERHEAD_BYTES;

/**
 * Splits one write into produce requests in which each topic's records take at most `maxBytes`
 * (a record larger than that goes alone). Request k carries each topic's k-th slice, so one that
 * fits stays one request, and a topic's records keep their order across the requests.
 */
export function splitRequests(topics: readonly OutgoingTopic[], maxBytes: number): OutgoingTopic[][] {
  const slices = topics.map((t) => {
    const out: OutgoingTopic['messages'][] = [];
    let current: OutgoingTopic['messages'] = [];
    let bytes = 0;
    for (const m of t.messages) {
      const size = recordBytes(m);
      if (current.length > 0 && bytes + size > maxBytes) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(m);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  });
  const requests = Math.max(0, ...slices.map((s) => s.length));
  if (requests <= 1) return [[...topics]];
  return Array.from({ length: requests }, (_, k) =>
    topics.flatMap((t, i) => {
      const messages = slices[i]![k];
      return messages ? [{ ...t, messages }] : [];
    }),
  );
}

/**
 * Dead-letter keys above this are cut. The key goes out twice (message key and record field), and
 * kafkajs's partitioner hashes it in time that grows faster than its length: a 1 MB key took
 * minutes, stalling every batch behind it.
 */
export const MAX_DEAD_LETTER_KEY_BYTES = 1024;

/** Keeps a dead letter producible: cuts an over-large payload or key and says so in the reason. */
export function capPayload(dl: DeadLetter, max: number, maxKey = MAX_DEAD_LETTER_KEY_BYTES): DeadLetter {
  const cutPayload = dl.payload.length > max;
  const cutKey = dl.key !== null && dl.key.length > maxKey;
  if (!cutPayload && !cutKey) return dl;
  const notes: string[] = [];
  if (cutPayload) notes.push(`payload truncated to the first ${max} of ${dl.payload.length} bytes`);
  if (cutKey) notes.push(`key truncated to the first ${maxKey} of ${dl.key!.length} bytes`);
  return {
    ...dl,
    payload: cutPayload ? dl.payload.subarray(0, max) : dl.payload,
    key: cutKey ? dl.key!.subarray(0, maxKey) : dl.key,
    reason: `${dl.reason} [${notes.join('; ')}]`,
  };
}

/** Hands records to Kafka and resolves once the broker acknowledged all of them (acks=all). */
export interface RecordTransport {
  send(topics: readonly OutgoingTopic[]): Promise<void>;
  close(): Promise<void>;
}

/** The transport on the calling thread: a connected kafkajs producer. */
export function producerTransport(producer: Producer): RecordTransport {
  return {
    async send(topics) {
      const topicMessages = topics.map((t) => ({
        topic: t.topic,
        messages: t.messages.map((m) => kafkaMessage(m.key, m.value, t.headerName, m.header)),
      }));
      await producer.sendBatch({ topicMessages, acks: -1 });
    },
    close: () => producer.disconnect(),
  };
}

/** The transport on its own thread (see ProducerThread). */
export function threadTransport(thread: ProducerThread): RecordTransport {
  return { send: (topics) => thread.send(topics), close: () => thread.close() };
}

/**
 * Decisions keyed by session_id (all of a session's decisions land on one partition, in order),
 * with the response in a `decision` header so routers can filter without decoding (one header
 * only: every header costs the producer encoding time per record, and the rest is in the payload).
 * One batch per pipeline batch, acknowledged by all in-sync replicas before the engine commits its
 * input offsets.
 */
export class KafkaSink implements OutputSink {
  constructor(
    private readonly transport: RecordTransport,
    private readonly opts: KafkaSinkOptions,
  ) {}

  async write(
    decisions: readonly Decision[],
    deadLetters: readonly DeadLetter[],
    shadow: readonly Decision[] = [],
    evidence: readonly EvidenceRecord[] = [],
  ): Promise<void> {
    const topics: OutgoingTopic[] = [];
    const encode = (ds: readonly Decision[]) =>
      ds.map((d) => ({
        key: d.session_id,
        value: encodeDecision(d, this.opts.format, this.opts.decisionSchemaId),
        header: d.decision,
      }));
    const decisionTopic = (topic: string, messages: OutgoingTopic['messages']): OutgoingTopic => ({
      topic,
      headerName: 'decision',
      messages,
    });
    if (decisions.length > 0) {
      const messages = encode(decisions);
      topics.push(decisionTopic(this.opts.decisionsTopic, messages));
      for (const [response, topic] of Object.entries(this.opts.routes ?? {})) {
        const routed = messages.filter((msg) => msg.header === response);
        if (topic && routed.length > 0) topics.push(decisionTopic(topic, routed));
      }
    }
    if (shadow.length > 0 && this.opts.shadowTopic)
      topics.push(decisionTopic(this.opts.shadowTopic, encode(shadow)));
    if (evidence.length > 0 && this.opts.auditTopic) {
      topics.push({
        topic: this.opts.auditTopic,
        headerName: 'decision',
        messages: evidence.map((e) => ({
          key: e.session_id,
          value: Buffer.from(JSON.stringify(e), 'utf8'),
          header: e.decision,
        })),
      });
    }
    if (deadLetters.length > 0) {
      const format = this.opts.format;
      topics.push({
        topic: this.opts.deadLetterTopic,
        headerName: 'reason_code',
        messages: deadLetters.map((dl) => {
          const capped = capPayload(dl, this.opts.maxDeadLetterPayloadBytes ?? 900 * 1024);
          return {
            key: capped.key,
            value: encodeDeadLetter(capped, format, this.opts.deadLetterSchemaId),
            header: dl.reason_code,
          };
        }),
      });
    }
    if (topics.length === 0) return;
    try {
      for (const request of splitRequests(topics, this.opts.maxRequestTopicBytes ?? 900 * 1024))
        await this.transport.send(request);
    } catch (err) {
      if (err instanceof RiskStreamError) throw err;
      throw new RiskStreamError('SINK_FAILED', `producing decisions failed: ${(err as Error).message}`, {
        retriable: true,
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
