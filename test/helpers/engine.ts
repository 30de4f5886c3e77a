import assert from 'node:assert/strict';
import { startEngine, type RunningEngine } from '../../src/cli/run';
import type { Settings } from '../../src/config/schema';
import { createLogger, silentLogger, type Logger } from '../../src/log';
import { spawnCli, type CliProcess } from './cli';
import { freePort } from './services';

/** Silent unless TEST_LOG_LEVEL names a level (then JSON lines on stderr). */
export const testLogger = (): Logger =>
  process.env.TEST_LOG_LEVEL ? createLogger(process.env.TEST_LOG_LEVEL) : silentLogger();

/** The engine in this process (startEngine), logging as testLogger says. */
export const startTestEngine = (settings: Settings): Promise<RunningEngine> =>
  startEngine(settings, testLogger());

export interface ChildEngineOptions {
  /** Variables set on top of this process's environment, e.g. a sandbox's env(). */
  env?: NodeJS.ProcessEnv;
  /** More arguments after `run --port <port>`, e.g. ['--config', file]. */
  args?: string[];
  /** The HTTP port; a free one when not given. */
  port?: number;
  /**
   * When it counts as started: 'ready' once /readyz answers 200 (Kafka group joined, Redis and the
   * model ready); 'running' at the "engine running" log line (HTTP listening, the group perhaps
   * still joining).
   * @default 'ready'
   */
  until?: 'ready' | 'running';
  /** @default 60_000 */
  startTimeoutMs?: number;
}

export interface ChildEngine extends CliProcess {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
}

/**
 * `risk-stream run` (the compiled CLI) as a child process, resolved once started. If it does not
 * start in time it is killed and this fails with its output. The caller stops it: `stop()` in the
 * test (SIGTERM, the exit code) and `kill()` in a `finally`.
 */
export async function startChildEngine(opts: ChildEngineOptions = {}): Promise<ChildEngine> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const engine = spawnCli(['run', '--port', String(port), ...(opts.args ?? [])], { env: opts.env });
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const started =
    opts.until === 'running'
      ? (await engine.waitForLog('engine running', { timeoutMs })) !== undefined
      : await engine.waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, {
          timeoutMs,
          intervalMs: 500,
        });
  if (!started) {
    engine.kill();
    const code = await engine.exited;
    assert.fail(`engine never became ${opts.until ?? 'ready'} (exit code ${code}):\n${engine.output}`);
  }
  return Object.assign(engine, { port, url });
}
