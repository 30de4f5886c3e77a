import type { Logger } from '../log';
import type { Metrics } from '../metrics/metrics';
import type { Scorer } from './scorer';

export interface LiveModelOptions {
  /** The model being served when the engine starts. */
  initial: Scorer;
  /** The version the registry's pointer names now (models/<name>/ACTIVE). */
  activeVersion: () => string;
  /** Loads a version (checks its feature version and names, as at start-up). */
  load: (version: string) => Promise<Scorer>;
  /** How often the pointer is read; 0: only on `check()` (the admin endpoint). */
  intervalMs: number;
  /**
   * How long a replaced model is kept before its tensors are freed: longer than any batch takes,
   * so a batch that started with it finishes with it.
   */
  retireAfterMs?: number;
  log: Logger;
  metrics?: Metrics;
}

export interface CheckResult {
  version: string;
  /** True when this check swapped the model. */
  swapped: boolean;
  previous?: string;
}

/**
 * The model the engine serves, swapped without a restart when the registry's pointer moves
 * (`risk-stream models promote`). The pipeline reads `current` once per batch, so a swap lands
 * between batches: no batch is split across two models and no event is scored twice. A version
 * that fails to load is logged and counted; the engine keeps serving the one it has.
 */
export class LiveModel {
  private model: Scorer;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<CheckResult> | undefined;
  private readonly retiring = new Set<NodeJS.Timeout>();
  private readonly retired: Scorer[] = [];
  /** The version that failed last: logged as an error once, not on every check. */
  private failed: string | undefined;

  constructor(private readonly opts: LiveModelOptions) {
    this.model = opts.initial;
  }

  get current(): Scorer {
    return this.model;
  }

  /** Starts reading the pointer every intervalMs (no-op when 0). */
  start(): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.check().catch(() => undefined), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Reads the pointer now and swaps if it names another version. Concurrent calls share one check. */
  check(): Promise<CheckResult> {
    this.checking ??= this.swapIfMoved().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async swapIfMoved(): Promise<CheckResult> {
    const { log, metrics } = this.opts;
    const serving = this.model.version;
    let wanted: string | undefined;
    let next: Scorer;
    try {
      wanted = this.opts.activeVersion();
      if (wanted === serving) {
        this.failed = undefined;
        return { version: serving, swapped: false };
      }
      next = await this.opts.load(wanted);
    } catch (err) {
      metrics?.modelReloadErrors.inc();
      const fields = { err: (err as Error).message, serving };
      const message = 'the model pointer names a version that cannot be served; keeping the current model';
      if (this.failed !== (wanted ?? '')) log.error(fields, message);
      else log.debug(fields, message);
      this.failed = wanted ?? '';
      throw err;
    }
    this.failed = undefined;
    const previous = this.model;
    this.model = next;
    metrics?.modelSwaps.inc();
    metrics?.modelInfo.reset();
    metrics?.modelInfo.set(
      {
        name: next.name,
        version: next.version,
        feature_version: String(next.featureVersion),
        backend: next.backend,
      },
      1,
    );
    log.info({ from: previous.version, to: next.version }, 'model swapped');
    this.retire(previous);
    return { version: next.version, swapped: true, previous: previous.version };
  }

  private retire(old: Scorer): void {
    this.retired.push(old);
    const timer = setTimeout(() => {
      this.retiring.delete(timer);
      this.retired.splice(this.retired.indexOf(old), 1);
      old.dispose();
    }, this.opts.retireAfterMs ?? 60_000);
    timer.unref();
    this.retiring.add(timer);
  }

  /** Stops watching and frees every model it holds. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checking?.catch(() => undefined);
    for (const t of this.retiring) clearTimeout(t);
    this.retiring.clear();
    for (const m of this.retired.splice(0)) m.dispose();
    this.model.dispose();
  }
}
