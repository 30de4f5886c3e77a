import type { Message, Producer } from 'kafkajs';
import type { DeadLetter, Decision, OutputSink } from '../contract';
import { RiskStreamError } from '../errors';
import { encodeDeadLetter, encodeDecision } from './encode';

export interface KafkaSinkOptions {
  decisionsTopic: string;
  deadLetterTopic: string;
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

/**
 * Decisions keyed by session_id (all of a session's decisions land on one partition, in order),
 * with the response in a header so routers can filter without decoding. One sendBatch per batch,
 * acks from all in-sync replicas before the engine commits its input offsets.
 */
export class KafkaSink implements OutputSink {
  constructor(
    private readonly producer: Producer,
    private readonly opts: KafkaSinkOptions,
  ) {}

  async write(decisions: readonly Decision[], deadLetters: readonly DeadLetter[]): Promise<void> {
    const topicMessages: { topic: string; messages: Message[] }[] = [];
    if (decisions.length > 0) {
      topicMessages.push({
        topic: this.opts.decisionsTopic,
        messages: decisions.map((d) => ({
          key: d.session_id,
          value: encodeDecision(d, this.opts.format, this.opts.decisionSchemaId),
          headers: { decision: d.decision, decision_id: d.decision_id, model_version: d.model_version },
        })),
      });
    }
    if (deadLetters.length > 0) {
      const format = this.opts.format;
      topicMessages.push({
        topic: this.opts.deadLetterTopic,
        messages: deadLetters.map((dl) => ({
          key: dl.key,
          value: encodeDeadLetter(
            capPayload(dl, this.opts.maxDeadLetterPayloadBytes ?? 900 * 1024),
            format,
            this.opts.deadLetterSchemaId,
          ),
          headers: { reason_code: dl.reason_code },
        })),
      });
    }
    if (topicMessages.length === 0) return;
    try {
      await this.producer.sendBatch({ topicMessages, acks: -1 });
    } catch (err) {
      throw new RiskStreamError('SINK_FAILED', `producing decisions failed: ${(err as Error).message}`, {
        retriable: true,
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
