import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join, resolve } from 'node:path';
import { waitUntil } from './services';

/** The package root; the compiled CLI runs from here (`npm run build` first). */
export const ROOT = resolve(__dirname, '../..');
export const BIN = join(ROOT, 'bin/risk-stream.js');

export interface CliOptions {
  /** Variables set on top of this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** runCli only (a child of spawnCli runs until it exits or is stopped). @default 60_000 */
  timeoutMs?: number;
}

export interface CliResult {
  /** The exit code; null when the process was killed (a timeout included). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One pino log line of the CLI, parsed. */
export type LogLine = { msg?: string; level?: number } & Record<string, unknown>;

/**
 * `risk-stream <args>` to completion. It blocks this process: runCliAsync is for a test that serves
 * something meanwhile.
 */
export function runCli(args: readonly string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `risk-stream <args>` to completion without blocking this process. */
export async function runCliAsync(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const cli = spawnCli(args, opts);
  const code = await cli.exited;
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

/** A running `risk-stream` child process with its output captured. */
export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** What it has written so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  readonly output: string;
  /** The JSON log lines on stderr so far, parsed (other lines are left out). */
  logs(): LogLine[];
  /** The exit code (null when killed by a signal), once the process has exited and closed its output. */
  readonly exited: Promise<number | null>;
  running(): boolean;
  /**
   * Polls `check` (a rejection counts as not yet) until it holds, the process exits, or the timeout
   * passes; resolves whether it held.
   */
  waitFor(
    check: () => boolean | Promise<boolean>,
    opts?: { timeoutMs?: number; intervalMs?: number },
  ): Promise<boolean>;
  /** Waits (as waitFor) for a log line with this `msg`; resolves with it, or undefined. */
  waitForLog(msg: string, opts?: { timeoutMs?: number; intervalMs?: number }): Promise<LogLine | undefined>;
  /** SIGTERM, then SIGKILL if it is still running after `timeoutMs`; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL unless it has exited: for a `finally` that must not leave a process running. */
  kill(): void;
}

/** Starts `risk-stream <args>` as a child process and returns at once. */
export function spawnCli(args: readonly string[], opts: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env } });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    output += c.toString();
  });
  // 'close', not 'exit': by then every byte it wrote has been read.
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const running = () => child.exitCode === null && child.signalCode === null;
  const logs = (): LogLine[] =>
    stderr.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return []; // a line still being written
      }
    });
  const waitFor: CliProcess['waitFor'] = (check, o) => waitUntil(check, { ...o, giveUpIf: () => !running() });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    get output() {
      return output;
    },
    logs,
    exited,
    running,
    waitFor,
    async waitForLog(msg, o) {
      const find = () => logs().find((l) => l.msg === msg);
      await waitFor(() => find() !== undefined, o);
      return find();
    },
    async stop(timeoutMs = 30_000) {
      if (running()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill() {
      if (running()) child.kill('SIGKILL');
    },
  };
}
