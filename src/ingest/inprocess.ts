import type { RawRecord } from '../contract';

/**
 * An in-process stand-in for a Kafka topic, for the embedded demo: a bounded queue of raw
 * (encoded) records. Producers wait when it is full, so a slow pipeline slows the producer down
 * rather than growing memory, as a broker with a lagging consumer would not but a demo should.
 */
export class InProcessTopic {
  private readonly queue: RawRecord[] = [];
  private readonly waitingConsumers: (() => void)[] = [];
  private readonly waitingProducers: (() => void)[] = [];
  private closed = false;
  private offset = 0n;

  constructor(
    readonly name: string,
    private readonly capacity = 10_000,
  ) {}

  async produce(value: Buffer, key: Buffer | null = null): Promise<void> {
    while (this.queue.length >= this.capacity && !this.closed) {
      await new Promise<void>((r) => this.waitingProducers.push(r));
    }
    if (this.closed) return;
    this.queue.push({
      value,
      key,
      source: this.name,
      partition: 0,
      offset: (this.offset++).toString(),
      line: null,
      receivedAt: Date.now(),
    });
    this.waitingConsumers.shift()?.();
  }

  /** Up to `max` records; waits up to `waitMs` for the first one. Empty when closed and drained. */
  async poll(max: number, waitMs: number): Promise<RawRecord[]> {
    if (this.queue.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          const i = this.waitingConsumers.indexOf(wake);
          if (i >= 0) this.waitingConsumers.splice(i, 1);
          resolve();
        }, waitMs);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waitingConsumers.push(wake);
      });
    }
    const batch = this.queue.splice(0, max);
    while (this.waitingProducers.length > 0 && this.queue.length < this.capacity)
      this.waitingProducers.shift()?.();
    return batch;
  }

  get depth(): number {
    return this.queue.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    for (const w of this.waitingConsumers.splice(0)) w();
    for (const w of this.waitingProducers.splice(0)) w();
  }
}
