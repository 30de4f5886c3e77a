import fs from 'node:fs';
import { once } from 'node:events';
import type { Settings } from '../config/schema';
import type { SessionAction } from '../contract';
import { FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION } from '../features/extract';
import { DEFAULT_INPUT_LIMITS, validateAction } from '../ingest/validate';
import type { EvalLabel } from '../model/evaluate';
import { readJsonLines } from '../sim/write';
import { featurize, simulateLabelled, type SimulatedData } from './train';

export interface FeaturesOptions extends SimulatedData {
  /** SessionAction JSON Lines and their labels; none: simulated (see SimulatedData). */
  input?: string;
  labels?: string;
  /** CSV to write. */
  out: string;
}

/** CSV field: quoted when it holds a comma, quote or newline. */
const field = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * `risk-stream features`: the engine's feature rows for labelled events, as CSV, for training
 * elsewhere (Python/Keras): event_id, session_id, scenario, label, then the features in the order
 * the model must take them (the header names them; the feature version is in the first comment
 * line). Rows come in event-time order, computed by the engine's own window and feature code.
 */
export async function exportFeatures(settings: Settings, opts: FeaturesOptions): Promise<{ rows: number }> {
  let events: SessionAction[];
  let labels: EvalLabel[];
  if (opts.input) {
    if (!opts.labels) throw new Error('features: --input needs --labels');
    // Invalid lines are skipped here exactly as the engine would dead-letter them.
    const limits = {
      ...DEFAULT_INPUT_LIMITS,
      maxFutureMs: settings.input.maxFuture,
      maxPastMs: settings.input.maxPast,
    };
    const now = Date.now();
    const lines = fs.readFileSync(opts.input, 'utf8').split('\n');
    events = lines.flatMap((line) => {
      if (line.trim() === '') return [];
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        return [];
      }
      const r = validateAction(raw, limits, now);
      return r.ok ? [r.action] : [];
    });
    const byId = new Map(readJsonLines<EvalLabel>(opts.labels).map((l) => [l.event_id, l]));
    events = events.filter((e) => byId.has(e.event_id)).sort((a, b) => a.ts - b.ts);
    labels = events.map((e) => byId.get(e.event_id)!);
  } else {
    const sim = simulateLabelled(opts);
    events = sim.events;
    labels = sim.labels;
  }
  const x = await featurize(settings, events);
  const out = fs.createWriteStream(opts.out, { encoding: 'utf8' });
  out.write(`# risk-stream features v${FEATURE_VERSION}, ${FEATURE_COUNT} features\n`);
  out.write(['event_id', 'session_id', 'scenario', 'label', ...FEATURE_NAMES].join(',') + '\n');
  for (let i = 0; i < events.length; i++) {
    const l = labels[i]!;
    const row = Array.from(x.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT), (v) => String(v));
    const line =
      [field(l.event_id), field(l.session_id), field(l.scenario), String(l.label), ...row].join(',') + '\n';
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { rows: events.length };
}
