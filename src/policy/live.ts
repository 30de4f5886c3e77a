import fs from 'node:fs';
import type { Logger } from '../log';
import type { Metrics } from '../metrics/metrics';
import { builtinPolicy, loadPolicyFile, type CompiledPolicy } from './compile';

export interface LivePolicyOptions {
  /** The policy file (`policy.file`); none: the built-in policy, never reloaded. */
  file?: string | undefined;
  /** How often the file is checked for changes; 0: only on `reload()` (the admin endpoint). */
  intervalMs: number;
  log: Logger;
  metrics?: Metrics;
}

export interface ReloadResult {
  policy: string;
  swapped: boolean;
  previous?: string;
}

/**
 * The policy the engine enforces, re-read without a restart when its file changes (like the
 * model: the pipeline reads `current` once per batch, so a swap lands between batches). A file
 * that fails validation is logged with its line numbers and counted; the engine keeps the policy
 * it has. The file is loaded at construction: a bad policy fails start-up.
 */
export class LivePolicy {
  private policy: CompiledPolicy;
  private timer: NodeJS.Timeout | undefined;
  /** mtime and size last looked at, so an unchanged file is not re-read. */
  private seen = '';
  /** The content hash that failed last: logged once, not on every check. */
  private failed: string | undefined;

  constructor(private readonly opts: LivePolicyOptions) {
    this.policy = opts.file ? loadPolicyFile(opts.file) : builtinPolicy();
    this.seen = this.stamp();
    this.show();
  }

  get current(): CompiledPolicy {
    return this.policy;
  }

  start(): void {
    if (!this.opts.file || this.opts.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.stamp() !== this.seen) this.tryReload();
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-reads the file now. Throws PolicyError (the previous policy stays) when it is invalid. */
  reload(): ReloadResult {
    const { file } = this.opts;
    if (!file) return { policy: this.policy.id, swapped: false };
    this.seen = this.stamp();
    let next: CompiledPolicy;
    try {
      next = loadPolicyFile(file);
    } catch (err) {
      this.opts.metrics?.policyReloads.inc({ outcome: 'invalid' });
      throw err;
    }
    if (next.hash === this.policy.hash) return { policy: this.policy.id, swapped: false };
    const previous = this.policy.id;
    this.policy = next;
    this.failed = undefined;
    this.show();
    this.opts.metrics?.policyReloads.inc({ outcome: 'swapped' });
    this.opts.log.info({ policy: next.id, previous, file }, 'policy reloaded');
    return { policy: next.id, swapped: true, previous };
  }

  private tryReload(): void {
    try {
      this.reload();
    } catch (err) {
      const message = (err as Error).message;
      if (this.failed !== message) {
        this.failed = message;
        this.opts.log.error(
          { file: this.opts.file, keeping: this.policy.id },
          `policy file changed but is invalid; keeping the current policy. ${message}`,
        );
      }
    }
  }

  private stamp(): string {
    if (!this.opts.file) return '';
    try {
      const st = fs.statSync(this.opts.file);
      return `${st.mtimeMs}:${st.size}`;
    } catch {
      return 'missing';
    }
  }

  private show(): void {
    const m = this.opts.metrics;
    if (!m) return;
    m.policyInfo.reset();
    m.policyInfo.set({ name: this.policy.name, version: this.policy.version, hash: this.policy.hash }, 1);
  }
}
