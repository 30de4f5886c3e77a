import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Kafka, Partitioners, logLevel, type KafkaConfig, type Message } from 'kafkajs';
import { RiskStreamError } from '../errors';

/**
 * A kafkajs producer on its own thread. Encoding record batches (varints, CRC32C, murmur2 keys)
 * is the largest single cost of the engine's main thread; here it runs beside the pipeline on
 * another core. The main thread hands over each batch's already encoded values in one transferred
 * buffer and gets the broker's acknowledgement back, so the engine still commits input offsets
 * only after its decisions are acknowledged.
 */

/** One topic's records, packed for postMessage: all values in one transferred buffer. */
export interface PackedTopic {
  topic: string;
  keys: (string | Uint8Array | null)[];
  /** values[i] is bytes[ends[i - 1] .. ends[i]). */
  bytes: Uint8Array;
  ends: number[];
  /** One header per record (e.g. `decision`), or none. */
  headerName: string | null;
  headerValues: string[];
}

export interface OutgoingTopic {
  topic: string;
  messages: { key: string | Buffer | null; value: Buffer; header?: string }[];
  headerName?: string;
}

/** The serializable part of the Kafka client configuration the thread builds its client from. */
export type ThreadKafkaConfig = Pick<
  KafkaConfig,
  'clientId' | 'brokers' | 'connectionTimeout' | 'retry' | 'ssl' | 'sasl'
>;

type Request = { type: 'send'; id: number; topics: PackedTopic[] } | { type: 'close' };
type Reply =
  { type: 'ready' } | { type: 'done'; id: number; error?: string } | { type: 'fatal'; error: string };

const WORKER_MARK = 'risk-stream-producer-thread';

/** The producer settings of every decision producer, on the main thread or on its own. */
export const PRODUCER_OPTIONS = {
  allowAutoTopicCreation: false,
  createPartitioner: Partitioners.DefaultPartitioner,
  retry: { retries: 5 },
} as const;

/** A kafkajs record, with the topic's one header when it has one. */
export function kafkaMessage(
  key: string | Buffer | null,
  value: Buffer,
  headerName: string | null | undefined,
  header: string | undefined,
): Message {
  return headerName ? { key, value, headers: { [headerName]: header ?? '' } } : { key, value };
}

export function pack(topics: readonly OutgoingTopic[]): { packed: PackedTopic[]; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  const packed = topics.map((t) => {
    let total = 0;
    for (const m of t.messages) total += m.value.length;
    const bytes = new Uint8Array(total);
    const ends: number[] = [];
    let at = 0;
    for (const m of t.messages) {
      bytes.set(m.value, at);
      at += m.value.length;
      ends.push(at);
    }
    transfer.push(bytes.buffer);
    return {
      topic: t.topic,
      // A Buffer key is copied: a Buffer is often a view into a shared pool slab, which
      // postMessage would otherwise clone whole.
      keys: t.messages.map((m) =>
        m.key === null || typeof m.key === 'string' ? m.key : Uint8Array.from(m.key),
      ),
      bytes,
      ends,
      headerName: t.headerName ?? null,
      headerValues: t.headerName ? t.messages.map((m) => m.header ?? '') : [],
    };
  });
  return { packed, transfer };
}

export function unpack(t: PackedTopic): { topic: string; messages: Message[] } {
  const messages = t.keys.map((key, i): Message => {
    const start = i === 0 ? 0 : t.ends[i - 1]!;
    const value = Buffer.from(t.bytes.buffer, t.bytes.byteOffset + start, t.ends[i]! - start);
    const k =
      key === null || typeof key === 'string' ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    return t.headerName
      ? { key: k, value, headers: { [t.headerName]: t.headerValues[i]! } }
      : { key: k, value };
  });
  return { topic: t.topic, messages };
}

/**
 * This module, as the worker should load it: the compiled .js, or the .ts source through tsx's
 * require hook (tests and scripts run from source). It is required from an eval'd CommonJS stub,
 * because Node hands a .ts worker file to its ES module loader, which does not know the extension.
 */
function workerEntry(): { code: string; execArgv: string[] } {
  const code = `require(${JSON.stringify(__filename)});`;
  if (__filename.endsWith('.ts')) {
    return { code, execArgv: [...process.execArgv, '--require', require.resolve('tsx/cjs')] };
  }
  return { code, execArgv: process.execArgv };
}

/**
 * The main thread's handle on the producer thread. `send` resolves once the broker acknowledged
 * every record (acks=all) and rejects with a retriable SINK_FAILED otherwise. A thread that died
 * fails what was in flight and is started again by the next send.
 */
export class ProducerThread {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private closed = false;

  constructor(private readonly config: ThreadKafkaConfig) {}

  /** Starts the thread and connects its producer (also done lazily by send). */
  async start(): Promise<void> {
    if (this.closed) throw new RiskStreamError('SINK_FAILED', 'producer thread is closed');
    if (this.ready) return this.ready;
    const { code, execArgv } = workerEntry();
    const worker = new Worker(code, {
      eval: true,
      workerData: { mark: WORKER_MARK, config: this.config },
      execArgv,
    });
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      const failAll = (message: string) => {
        const err = new RiskStreamError('SINK_FAILED', `producer thread: ${message}`, { retriable: true });
        reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        if (this.worker === worker) {
          this.worker = null;
          this.ready = null;
        }
      };
      worker.on('message', (reply: Reply) => {
        if (reply.type === 'ready') resolve();
        else if (reply.type === 'fatal') failAll(reply.error);
        else {
          const p = this.pending.get(reply.id);
          this.pending.delete(reply.id);
          if (!p) return;
          if (reply.error === undefined) p.resolve();
          else {
            p.reject(
              new RiskStreamError('SINK_FAILED', `producing decisions failed: ${reply.error}`, {
                retriable: true,
              }),
            );
          }
        }
      });
      worker.on('error', (err) => failAll(err.message));
      worker.on('exit', (code) => failAll(`exited with code ${code}`));
    });
    // Unhandled until someone awaits it; a failed start is reported through send().
    this.ready.catch(() => undefined);
    return this.ready;
  }

  async send(topics: readonly OutgoingTopic[]): Promise<void> {
    if (topics.length === 0) return;
    await this.start();
    const worker = this.worker;
    if (!worker)
      throw new RiskStreamError('SINK_FAILED', 'producer thread is not running', { retriable: true });
    const id = this.nextId++;
    const { packed, transfer } = pack(topics);
    const done = new Promise<void>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.postMessage({ type: 'send', id, topics: packed } satisfies Request, transfer);
    return done;
  }

  /** Disconnects the producer (after the sends in flight) and ends the thread. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' } satisfies Request);
    const timer = setTimeout(() => void worker.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// the thread itself
// ---------------------------------------------------------------------------------------------

async function runThread(config: ThreadKafkaConfig): Promise<void> {
  const port = parentPort!;
  const post = (reply: Reply) => port.postMessage(reply);
  const producer = new Kafka({ ...config, logLevel: logLevel.NOTHING }).producer(PRODUCER_OPTIONS);
  try {
    await producer.connect();
  } catch (err) {
    post({ type: 'fatal', error: `cannot connect: ${(err as Error).message}` });
    return;
  }
  const inFlight = new Set<Promise<void>>();
  port.on('message', (req: Request) => {
    if (req.type === 'close') {
      void Promise.allSettled([...inFlight])
        .then(() => producer.disconnect())
        .finally(() => port.close());
      return;
    }
    const sent = producer
      .sendBatch({ topicMessages: req.topics.map(unpack), acks: -1 })
      .then(
        () => post({ type: 'done', id: req.id }),
        (err: Error) => post({ type: 'done', id: req.id, error: err.message }),
      )
      .finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  });
  post({ type: 'ready' });
}

if (!isMainThread && (workerData as { mark?: string } | null)?.mark === WORKER_MARK) {
  void runThread((workerData as { config: ThreadKafkaConfig }).config);
}
