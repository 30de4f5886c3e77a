import type { Logger } from '../log';
import type { Metrics } from '../metrics/metrics';
import type { Scorer } from './scorer';

export interface LiveModelOptions {
  /** Which model this is in the metrics and logs. */
  slot: 'active' | 'shadow';
  /** The model being served when the engine starts (a shadow slot may start empty). */
  initial: Scorer | null;
  /** The version the registry's pointer names now (ACTIVE, or SHADOW: null when none). */
  wantedVersion: () => string | null;
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
  /** Called after a swap with the model now served (null: the shadow slot was emptied). */
  onSwap?: (next: Scorer | null) => void;
}

export interface CheckResult {
  version: string | null;
  /** True when this check swapped the model. */
  swapped: boolean;
  previous?: string | null;
}

/**
 * A model the engine serves, swapped without a restart when the registry's pointer moves
 * (`risk-stream models promote` for the active model, `models shadow` for the shadow one). The
 * pipeline reads `current` once per batch, so a swap lands between batches: no batch is split
 * across two models and no event is scored twice. A version that fails to load is logged and
 * counted; the engine keeps serving the one it has.
 */
export class LiveModel {
  private model: Scorer | null;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<CheckResult> | undefined;
  /** Replaced models, each with the timer that frees it. */
  private readonly retiring = new Map<NodeJS.Timeout, Scorer>();
  /** The version that failed last: logged as an error once, not on every check. */
  private failed: string | undefined;

  constructor(private readonly opts: LiveModelOptions) {
    this.model = opts.initial;
  }

  get current(): Scorer | null {
    return this.model;
  }

  /** The model, for a slot that always has one (the active model). */
  required(): Scorer {
    if (!this.model) throw new Error(`no ${this.opts.slot} model loaded`);
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
    const { log, metrics, slot } = this.opts;
    const serving = this.model?.version ?? null;
    let wanted: string | null | undefined;
    let next: Scorer | null;
    try {
      wanted = this.opts.wantedVersion();
      if (wanted === serving) {
        this.failed = undefined;
        return { version: serving, swapped: false };
      }
      next = wanted === null ? null : await this.opts.load(wanted);
    } catch (err) {
      metrics?.modelReloadErrors.inc({ slot });
      const fields = { err: (err as Error).message, slot, serving };
      const message = 'the model pointer names a version that cannot be served; keeping the current model';
      if (this.failed !== String(wanted)) log.error(fields, message);
      else log.debug(fields, message);
      this.failed = String(wanted);
      throw err;
    }
    this.failed = undefined;
    const previous = this.model;
    this.model = next;
    metrics?.modelSwaps.inc({ slot });
    this.opts.onSwap?.(next);
    log.info({ slot, from: serving, to: wanted }, 'model swapped');
    if (previous) this.retire(previous);
    return { version: wanted, swapped: true, previous: serving };
  }

  private retire(old: Scorer): void {
    const timer = setTimeout(() => {
      this.retiring.delete(timer);
      old.dispose();
    }, this.opts.retireAfterMs ?? 60_000);
    timer.unref();
    this.retiring.set(timer, old);
  }

  /** Stops watching and frees every model it holds. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checking?.catch(() => undefined);
    for (const [timer, old] of this.retiring) {
      clearTimeout(timer);
      old.dispose();
    }
    this.retiring.clear();
    this.model?.dispose();
  }
}
