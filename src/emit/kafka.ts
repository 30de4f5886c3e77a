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
}

/** Keeps a dead letter producible: cuts an over-large payload and says so in the reason. */
export function capPayload(dl: DeadLetter, max: number): DeadLetter {
  if (dl.payload.length <= max) return dl;
  return {
    ...dl,
    payload: dl.payload.subarray(0, max),
    reason: `${dl.reason} [payload truncated to the first ${max} of ${dl.payload.length} bytes]`,
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
        messages: deadLetters.map((dl) => ({
          key: dl.key,
          value: encodeDeadLetter(
            capPayload(dl, this.opts.maxDeadLetterPayloadBytes ?? 900 * 1024),
            format,
            this.opts.deadLetterSchemaId,
          ),
          header: dl.reason_code,
        })),
      });
    }
    if (topics.length === 0) return;
    try {
      await this.transport.send(topics);
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
