import fs from 'node:fs';
import type { SessionAction } from '../contract';
import type { Settings } from '../config/schema';
import { RiskStreamError } from '../errors';
import { FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION, extractBatch } from '../features/extract';
import type { Logger } from '../log';
import { initBackend } from '../model/backend';
import { defaultModelsDir, modelDir } from '../model/registry';
import { importModel } from '../model/import';
import { trainModel } from '../model/train';
import { simulate } from '../sim/generate';
import type { ScenarioMix } from '../sim/types';
import { toActionInput } from '../state/input';
import { buildMemoryStore } from './context';

/** The simulated traffic a model is trained or measured on. */
export interface SimulatedData {
  sessions: number;
  seed: number;
  attackRate: number;
  /** Scenario weights, start (epoch ms) and span (defaults: DEFAULT_MIX, 2026-01-05 08:00 UTC, 8 h). */
  mix?: ScenarioMix;
  start?: number;
  spanMs?: number;
}

export interface TrainOptions extends SimulatedData {
  version: string;
  activate: boolean;
  epochs?: number;
  hidden?: number[];
  classWeighting?: 'balanced' | 'sqrt' | 'none';
  calibrate?: boolean;
}

/**
 * Feature rows for labelled events, computed by the engine's own stages (memory store + feature
 * extraction) in event-time order, so training sees exactly what the engine will see.
 */
export async function featurize(settings: Settings, events: readonly SessionAction[]): Promise<Float32Array> {
  const store = buildMemoryStore(settings, { eventTime: true });
  const x = new Float32Array(events.length * FEATURE_COUNT);
  const BATCH = 2000;
  for (let i = 0; i < events.length; i += BATCH) {
    const slice = events.slice(i, i + BATCH);
    const views = await store.applyBatch(slice.map(toActionInput));
    x.set(extractBatch(slice.map((action, k) => ({ action, view: views[k]! }))), i * FEATURE_COUNT);
  }
  await store.close();
  return x;
}

/**
 * Labelled traffic from the simulator; start and span, when not given, come from `defaults`, else
 * 2026-01-05 08:00 UTC and 8 hours.
 */
export function simulateLabelled(opts: SimulatedData, defaults: { start?: number; spanMs?: number } = {}) {
  return simulate({
    seed: opts.seed,
    sessions: opts.sessions,
    attackRate: opts.attackRate,
    ...(opts.mix ? { mix: opts.mix } : {}),
    start: opts.start ?? defaults.start ?? Date.UTC(2026, 0, 5, 8, 0, 0),
    spanMs: opts.spanMs ?? defaults.spanMs ?? 8 * 3_600_000,
  });
}

/** Simulated labelled traffic featurized by the engine's code: what train and import measure on. */
async function labelledRows(settings: Settings, log: Logger, opts: SimulatedData) {
  const { events, labels } = simulateLabelled(opts);
  log.info({ events: events.length, sessions: opts.sessions }, 'simulated labelled traffic');
  return {
    x: await featurize(settings, events),
    y: Uint8Array.from(labels, (l) => l.label),
    groups: events.map((e) => e.session_id),
    data: `risk-stream simulate --sessions ${opts.sessions} --seed ${opts.seed} --attack-rate ${opts.attackRate} (${events.length} events)`,
  };
}

/** `risk-stream train`: simulate labelled traffic, featurize it with the engine's code, train, save. */
export async function train(settings: Settings, log: Logger, opts: TrainOptions) {
  const backend = await initBackend(settings.model.backend, log);
  log.info({ backend: backend.name }, 'training backend');
  const { x, y, groups, data } = await labelledRows(settings, log, opts);
  const result = await trainModel({
    x,
    y,
    groups,
    featureNames: [...FEATURE_NAMES],
    featureVersion: FEATURE_VERSION,
    name: settings.model.name,
    version: opts.version,
    modelsDir: settings.model.dir ?? defaultModelsDir(),
    seed: opts.seed,
    ...(opts.epochs ? { epochs: opts.epochs } : {}),
    ...(opts.hidden ? { hidden: opts.hidden } : {}),
    ...(opts.classWeighting ? { classWeighting: opts.classWeighting } : {}),
    calibrate: opts.calibrate !== false,
    data,
    activate: opts.activate,
    log,
  });
  return result;
}

/**
 * `risk-stream models import`: a TF.js Layers model trained elsewhere becomes a registry version,
 * measured on simulated labelled traffic featurized by the engine (see importModel).
 */
export async function importTrained(
  settings: Settings,
  log: Logger,
  opts: SimulatedData & { from: string; version: string; activate: boolean },
) {
  const target = modelDir(settings.model.dir ?? defaultModelsDir(), settings.model.name, opts.version);
  // Before simulating anything: the version must be new.
  if (fs.existsSync(target))
    throw new RiskStreamError('CONFIG_INVALID', `${target} exists; pick a new version`);
  await initBackend(settings.model.backend, log);
  const { x, y, groups, data } = await labelledRows(settings, log, opts);
  return importModel({
    from: opts.from,
    modelsDir: settings.model.dir ?? defaultModelsDir(),
    name: settings.model.name,
    version: opts.version,
    featureVersion: FEATURE_VERSION,
    featureNames: [...FEATURE_NAMES],
    x,
    y,
    groups,
    seed: opts.seed,
    data,
    activate: opts.activate,
  });
}
