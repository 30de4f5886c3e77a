import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Registry } from 'prom-client';
import { createCaepMetrics } from '../../../src/caep/metrics';
import { createMetrics } from '../../../src/metrics/metrics';

/** The repository root. */
export const ROOT = join(__dirname, '..', '..', '..');

/** Prefix of the Node.js default metrics (collectDefaultMetrics in src/metrics/metrics.ts). */
export const PROCESS_PREFIX = 'riskstream_process_';

export interface MetricInfo {
  name: string;
  type: string;
  labelNames: readonly string[];
}

/**
 * The registry of a running engine, built as src/cli/run.ts builds it: createMetrics (default Node.js
 * metrics included), plus the CAEP transmitter's metrics, which exist when caep.enabled. A module that
 * registers metrics of its own is added here (the catalog test fails until it is).
 */
export function engineRegistry(): Registry {
  const { registry } = createMetrics(new Registry());
  createCaepMetrics(registry, () => Promise.resolve(0));
  return registry;
}

/** Every metric of engineRegistry() by name, with its type and label names. */
export function engineMetrics(): Map<string, MetricInfo> {
  const out = new Map<string, MetricInfo>();
  for (const m of engineRegistry().getMetricsAsArray()) {
    // prom-client keeps the labelNames it was given on the metric; its typings leave them out.
    const labelNames = (m as { labelNames?: readonly string[] }).labelNames ?? [];
    out.set(m.name, { name: m.name, type: String(m.type), labelNames });
  }
  return out;
}

/**
 * riskstream_* metric names declared in src, found by reading the source of every file that imports
 * prom-client (`name: 'riskstream_…'`): catches a metric registered somewhere engineRegistry() does
 * not build. Name -> the file declaring it.
 */
export function declaredInSource(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        if (!/from 'prom-client'/.test(text)) continue;
        for (const m of text.matchAll(/\bname:\s*['"`](riskstream_[a-z0-9_]+)['"`]/g))
          out.set(m[1]!, relative(ROOT, path));
      }
    }
  };
  walk(join(ROOT, 'src'));
  return out;
}

/**
 * The registered metric a PromQL series name belongs to: the name itself, or a histogram's
 * _bucket/_sum/_count series (a summary's _sum/_count). Undefined when the engine exports no such series.
 */
export function metricOfSeries(
  metrics: ReadonlyMap<string, MetricInfo>,
  series: string,
): MetricInfo | undefined {
  const exact = metrics.get(series);
  if (exact) return exact;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  if (!m) return undefined;
  const base = metrics.get(m[1]!);
  if (base?.type === 'histogram') return base;
  if (base?.type === 'summary' && m[2] !== 'bucket') return base;
  return undefined;
}

/** Label names a selector may use on a series: the metric's own, le / quantile, and the target labels. */
export function labelsOfSeries(metric: MetricInfo, series: string): Set<string> {
  const labels = new Set([...metric.labelNames, 'instance', 'job']);
  if (metric.type === 'histogram' && series.endsWith('_bucket')) labels.add('le');
  if (metric.type === 'summary' && series === metric.name) labels.add('quantile');
  return labels;
}
