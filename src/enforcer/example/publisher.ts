import type { Producer } from 'kafkajs';
import type { SessionAction } from '../../contract';
import { encodeAction } from '../../emit/encode';
import type { EnforcerLogger } from '../client';

/**
 * Publishes SessionActions to the actions topic without holding up requests: `publish` queues, and
 * everything queued within one turn of the event loop goes out as one produce request (acks=all),
 * keyed by session_id so a session's actions stay in order on one partition. Failures are counted
 * and logged; the request they belong to has been answered already.
 */
export class ActionPublisher {
  private queue: SessionAction[] = [];
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counts = { published: 0, failed: 0 };

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly logger?: EnforcerLogger,
  ) {}

  publish(action: SessionAction): void {
    this.queue.push(action);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.send());
    }
  }

  /** Resolves once everything published so far is acknowledged (or has failed). */
  async flush(): Promise<void> {
    if (this.queue.length > 0) this.send();
    await Promise.all([...this.inFlight]);
  }

  stats(): { published: number; failed: number } {
    return { ...this.counts };
  }

  private send(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const messages: { key: string; value: Buffer }[] = [];
    for (const a of batch) {
      try {
        messages.push({ key: a.session_id, value: encodeAction(a, 'avro') });
      } catch (err) {
        this.counts.failed++;
        this.logger?.warn({ err: (err as Error).message, event_id: a.event_id }, 'action not encodable');
      }
    }
    if (messages.length === 0) return;
    const p = this.producer
      .send({ topic: this.topic, messages, acks: -1 })
      .then(
        () => {
          this.counts.published += messages.length;
        },
        (err: Error) => {
          this.counts.failed += messages.length;
          this.logger?.warn({ err: err.message, actions: messages.length }, 'publishing actions failed');
        },
      )
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }
}
