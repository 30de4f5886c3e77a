import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { ROOT } from '../helpers/cli';
import { freePort, sleep } from '../helpers/services';

/**
 * Servers of one fault test file alone: a Kafka broker and a Redis it may stop and start at will.
 * The shared ones (scripts/test.sh) serve other tests at the same time and are never touched.
 */

const run = promisify(execFile);

/** A single-node broker of its own (scripts/kafka.sh in a temp folder, on free ports). */
export class PrivateKafka {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** Starts a broker on free ports with its data in a new temp folder (~5-25 s). */
  static async start(): Promise<PrivateKafka> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-fault-kafka-'));
    const port = await freePort();
    let controller = await freePort();
    while (controller === port) controller = await freePort();
    const env = {
      ...process.env,
      KAFKA_RUN_DIR: dir,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controller),
      KAFKA_HEAP_OPTS: '-Xms128m -Xmx384m',
    };
    const k = new PrivateKafka(dir, port, env);
    await k.script('start');
    return k;
  }

  /** A client of this broker (kafkajs logging off). */
  client(clientId = 'rs-fault-test'): Kafka {
    return new Kafka({
      clientId,
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 },
    });
  }

  /** Stops the broker (TERM: a controlled shutdown), keeping its data. */
  stop(): Promise<void> {
    return this.script('stop');
  }

  /** Starts it again on the same ports and data. */
  restart(): Promise<void> {
    return this.script('start');
  }

  /** Stops it and deletes its folder. */
  async destroy(): Promise<void> {
    await this.script('stop').catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async script(cmd: string): Promise<void> {
    await run('bash', [path.join(ROOT, 'scripts/kafka.sh'), cmd], { env: this.env, timeout: 120_000 });
  }
}

/**
 * A redis-server child process on a free port, started and stopped by the test. With
 * `persist`, it writes an append-only file (fsync always) in its folder, so a stop and start keeps
 * the sessions (a Redis that is down, not one that lost its data); without, a start is empty.
 */
export class PrivateRedis {
  private proc: ChildProcess | undefined;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-fault-redis-'));

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(persist: boolean): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.start(persist);
    return r;
  }

  /** Starts the server (again) and waits until it answers PING. */
  async start(persist: boolean): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir];
    args.push('--daemonize', 'no', '--appendonly', persist ? 'yes' : 'no');
    if (persist) args.push('--appendfsync', 'always');
    else fs.rmSync(path.join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      // A new client per attempt: one that was refused once stays closed.
      const probe = new Redis({
        port: this.port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      const answer = await probe.ping().catch(() => null);
      probe.disconnect();
      if (answer === 'PONG') return;
      await sleep(100);
    }
    throw new Error(`redis-server on port ${this.port} did not answer`);
  }

  /** Kills the server (SIGKILL: no goodbye to the clients) and waits until it is gone. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 2 });
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
