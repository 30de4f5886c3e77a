/**
 * Trains the risk MLP on labelled feature rows and publishes it as a registry version. Rows of
 * one session are correlated, so every split is by session: a session in two splits would leak
 * and inflate the held-out metrics.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RiskStreamError } from '../errors';
import { initBackend, type BackendName, type ModelLogger } from './backend';
import { fileSaveHandler } from './io';
import { FRAMEWORK, MANIFEST_JSON, OUTPUT_DESCRIPTION, parseManifest, type ModelManifest } from './manifest';
import { calibrationError, evaluateBinary, fitPlatt, logLoss } from './metrics';
import { modelDir, setActive } from './registry';

export interface TrainOptions {
  /** Row-major rows x F features. */
  x: Float32Array;
  /** 1 = risky, 0 = benign; one per row. */
  y: Uint8Array;
  /** Session id per row; the split never puts one session in two sets. */
  groups: readonly string[];
  featureNames: readonly string[];
  featureVersion: number;
  name: string;
  version: string;
  modelsDir: string;
  seed: number;
  /** Maximum epochs; early stopping usually ends sooner. @default 60 */
  epochs?: number;
  /** Epochs without a better validation loss before stopping. @default 5 */
  patience?: number;
  /** @default [32, 16] */
  hidden?: readonly number[];
  /** @default 256 */
  batchSize?: number;
  /**
   * How the rare (risky) class is weighted in the loss. @default 'none': weighting pushes the
   * scores of ambiguous benign actions (an ordinary export, sensitive work after a VPN switch) up,
   * which on held-out traffic cost more friction than it bought detection.
   */
  classWeighting?: 'balanced' | 'sqrt' | 'none';
  /** Fit Platt scaling on the validation split and fold it into the output layer. @default true */
  calibrate?: boolean;
  /** Adam learning rate. @default 0.001 */
  learningRate?: number;
  /** How the data was generated, for the manifest. */
  data?: string;
  thresholds?: { step_up: number; terminate: number };
  /** Write ACTIVE to point at the new version. @default false */
  activate?: boolean;
  /** Replace an existing version folder instead of refusing. @default false */
  overwrite?: boolean;
  log?: ModelLogger;
}

export interface TrainResult {
  dir: string;
  manifest: ModelManifest;
  metrics: ModelManifest['metrics'];
  backend: BackendName;
}

export interface SessionSplit {
  train: number[];
  val: number[];
  test: number[];
}

/** mulberry32: small, fast and good enough for shuffles; Math.random cannot be seeded. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffleInPlace<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * Row indices split 70/15/15 by session with a seeded shuffle. Sessions with and without a
 * positive row are split separately so the rare class reaches validation and test too.
 */
export function splitBySession(groups: readonly string[], y: ArrayLike<number>, seed: number): SessionSplit {
  const hasPositive = new Map<string, boolean>();
  groups.forEach((g, i) => hasPositive.set(g, (hasPositive.get(g) ?? false) || y[i] === 1));
  const rand = seededRandom(seed);
  const setOf = new Map<string, keyof SessionSplit>();
  for (const positive of [true, false]) {
    // Sorted first so the result depends on the seed and the set of sessions, not on row order.
    const ids = shuffleInPlace(
      [...hasPositive]
        .filter(([, p]) => p === positive)
        .map(([g]) => g)
        .sort(),
      rand,
    );
    const nTrain = Math.round(ids.length * 0.7);
    const nVal = Math.round(ids.length * 0.15);
    ids.forEach((g, i) => setOf.set(g, i < nTrain ? 'train' : i < nTrain + nVal ? 'val' : 'test'));
  }
  const split: SessionSplit = { train: [], val: [], test: [] };
  groups.forEach((g, i) => split[setOf.get(g) as keyof SessionSplit].push(i));
  return split;
}

export function buildModel(features: number, hidden: readonly number[], seed: number): tf.Sequential {
  const model = tf.sequential({ name: 'risk_mlp' });
  hidden.forEach((units, i) =>
    model.add(
      tf.layers.dense({
        name: `hidden_${i + 1}`,
        units,
        activation: 'relu',
        // Each layer its own seed: one shared seed would give every layer the same pattern.
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
        ...(i === 0 ? { inputShape: [features] } : {}),
      }),
    ),
  );
  model.add(
    tf.layers.dense({
      name: 'risk',
      units: 1,
      activation: 'sigmoid',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + hidden.length }),
      ...(hidden.length === 0 ? { inputShape: [features] } : {}),
    }),
  );
  return model;
}

/** The rows `idx` of row-major x (f columns) and their labels. */
export function selectRows(
  x: Float32Array,
  y: ArrayLike<number>,
  f: number,
  idx: readonly number[],
): { x: Float32Array; y: Float32Array } {
  const px = new Float32Array(idx.length * f);
  const py = new Float32Array(idx.length);
  idx.forEach((r, i) => {
    px.set(x.subarray(r * f, (r + 1) * f), i * f);
    py[i] = y[r] as number;
  });
  return { x: px, y: py };
}

export async function trainModel(options: TrainOptions): Promise<TrainResult> {
  const { x, y, groups, featureNames, seed, log } = options;
  const f = featureNames.length;
  const rows = y.length;
  checkInputs(options);
  const hidden = options.hidden ?? [32, 16];
  const batchSize = options.batchSize ?? 256;
  const maxEpochs = options.epochs ?? 60;
  const patience = options.patience ?? 5;
  const finalDir = modelDir(options.modelsDir, options.name, options.version);
  if (fs.existsSync(finalDir) && options.overwrite !== true) {
    throw new RiskStreamError('CONFIG_INVALID', `${finalDir} exists; pick a new version or pass overwrite`);
  }
  const backend = (await initBackend(undefined, log)).name;

  const split = splitBySession(groups, y, seed);
  if (split.val.length === 0 || split.test.length === 0) {
    throw new RiskStreamError('INPUT_INVALID', 'too few sessions for a train/validation/test split');
  }
  const pick = (idx: number[]) => selectRows(x, y, f, idx);
  const train = pick(split.train);
  const val = pick(split.val);
  const test = pick(split.test);

  // "Balanced" class weights from the training split: each class carries half the total loss.
  const trainPos = train.y.reduce((a, b) => a + b, 0);
  const trainNeg = train.y.length - trainPos;
  if (trainPos === 0 || trainNeg === 0) {
    throw new RiskStreamError('INPUT_INVALID', 'the training split needs both positive and negative rows');
  }
  // 'balanced' weights the rare class up to parity, 'sqrt' halfway; either pushes benign scores up.
  const weighting = options.classWeighting ?? 'none';
  const classWeight =
    weighting === 'balanced'
      ? { 0: train.y.length / (2 * trainNeg), 1: train.y.length / (2 * trainPos) }
      : weighting === 'sqrt'
        ? { 0: 1, 1: Math.sqrt(trainNeg / trainPos) }
        : { 0: 1, 1: 1 };

  const model = buildModel(f, hidden, seed);
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3);
  model.compile({ optimizer, loss: 'binaryCrossentropy' });
  const xTrain = tf.tensor2d(train.x, [train.y.length, f]);
  const yTrain = tf.tensor2d(train.y, [train.y.length, 1]);
  const rand = seededRandom(seed ^ 0x5eed);
  const order = Array.from({ length: train.y.length }, (_, i) => i);
  let best = Infinity;
  let bestWeights: tf.Tensor[] | undefined;
  let epochsRun = 0;
  let bestEpoch = 0;
  try {
    // One fit() per epoch on a seeded permutation, with early stopping by hand: fit's own shuffle
    // uses Math.random, and tf.callbacks.earlyStopping cannot restore the best weights in 4.22.
    for (let epoch = 1, wait = 0; epoch <= maxEpochs && wait < patience; epoch++) {
      const started = Date.now();
      const idx = tf.tensor1d(shuffleInPlace(order, rand), 'int32');
      const xs = tf.gather(xTrain, idx);
      const ys = tf.gather(yTrain, idx);
      let history: tf.History;
      try {
        history = await model.fit(xs, ys, { epochs: 1, batchSize, shuffle: false, classWeight, verbose: 0 });
      } finally {
        tf.dispose([idx, xs, ys]);
      }
      epochsRun = epoch;
      const valLoss = logLoss(await predictAll(model, val.x, f), val.y) ?? Infinity;
      log?.info(
        { epoch, loss: history.history.loss?.[0], val_loss: valLoss, ms: Date.now() - started },
        'epoch',
      );
      if (valLoss < best - 1e-4) {
        best = valLoss;
        bestEpoch = epoch;
        wait = 0;
        tf.dispose(bestWeights);
        bestWeights = model.getWeights().map((w) => w.clone());
      } else {
        wait++;
      }
    }
    if (bestWeights !== undefined) model.setWeights(bestWeights);
    const calibration = options.calibrate === false ? undefined : await calibrate(model, val, f);
    if (calibration) log?.info(calibration, 'calibrated');

    const splitMetrics = async (part: { x: Float32Array; y: Float32Array }, idx: number[]) => ({
      sessions: new Set(idx.map((i) => groups[i])).size,
      ...evaluateBinary(await predictAll(model, part.x, f), part.y),
    });
    const metrics = { val: await splitMetrics(val, split.val), test: await splitMetrics(test, split.test) };
    log?.info({ best_epoch: bestEpoch, val: metrics.val.roc_auc, test: metrics.test.roc_auc }, 'trained');

    const manifest = parseManifest({
      name: options.name,
      version: options.version,
      feature_version: options.featureVersion,
      features: [...featureNames],
      created_at: new Date().toISOString(),
      framework: FRAMEWORK,
      input_shape: [null, f],
      output: OUTPUT_DESCRIPTION,
      training: {
        seed,
        samples: rows,
        positives: y.reduce((a, b) => a + b, 0),
        sessions: new Set(groups).size,
        epochs: epochsRun,
        best_epoch: bestEpoch,
        hidden: [...hidden],
        batch_size: batchSize,
        class_weight: classWeight,
        ...(calibration ? { calibration } : {}),
        backend,
        data: options.data ?? 'unspecified',
      },
      metrics,
      ...(options.thresholds === undefined ? {} : { thresholds: options.thresholds }),
    });
    const dir = await publish(model, manifest, finalDir, options.overwrite === true);
    if (options.activate === true) setActive(options.modelsDir, options.name, options.version);
    return { dir, manifest, metrics, backend };
  } finally {
    tf.dispose([xTrain, yTrain]);
    tf.dispose(bestWeights);
    model.dispose();
    // A model does not dispose an optimizer it was handed (only one it built from a name).
    optimizer.dispose();
  }
}

/**
 * Platt scaling fitted on the validation split and folded into the final sigmoid layer (its kernel
 * times a, its bias times a plus b), so the saved model itself outputs calibrated scores: class
 * weighting shifts scores up, and the policy's thresholds are meant as probabilities.
 */
async function calibrate(model: tf.LayersModel, val: { x: Float32Array; y: Float32Array }, f: number) {
  const last = model.layers[model.layers.length - 1] as tf.layers.Layer;
  const [kernel, bias] = last.getWeights() as [tf.Tensor, tf.Tensor];
  const before = await predictAll(model, val.x, f);
  const logits = Float64Array.from(before, (p) => {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
    return Math.log(q / (1 - q));
  });
  const { a, b } = fitPlatt(logits, val.y);
  if (!(a > 0) || !Number.isFinite(b)) return undefined; // an inverted fit would flip the ranking
  const original = [kernel.clone(), bias.clone()];
  const scaled = tf.tidy(() => [kernel.mul(a), bias.mul(a).add(b)]);
  last.setWeights(scaled); // copies into the layer's variables
  tf.dispose(scaled);
  const after = await predictAll(model, val.x, f);
  const lossBefore = logLoss(before, val.y) ?? 0;
  const lossAfter = logLoss(after, val.y) ?? 0;
  // Platt fits smoothed targets; on a small, nearly separable validation set that can cost log
  // loss. Then the model keeps its own scores, and the manifest says so.
  const applied = lossAfter <= lossBefore;
  if (!applied) last.setWeights(original);
  tf.dispose(original);
  return {
    method: 'platt' as const,
    applied,
    a,
    b,
    val_log_loss_before: lossBefore,
    val_log_loss_after: lossAfter,
    val_ece_before: calibrationError(before, val.y) ?? 0,
    val_ece_after: calibrationError(after, val.y) ?? 0,
  };
}

/** Writes into a hidden temp folder, then renames, so a half-written version is never visible. */
export async function publish(
  model: tf.LayersModel,
  manifest: ModelManifest,
  dir: string,
  overwrite: boolean,
) {
  const tmp = path.join(path.dirname(dir), `.${path.basename(dir)}.${process.pid}.tmp`);
  await fs.promises.rm(tmp, { recursive: true, force: true });
  try {
    await model.save(fileSaveHandler(tmp));
    await fs.promises.writeFile(path.join(tmp, MANIFEST_JSON), `${JSON.stringify(manifest, null, 2)}\n`);
    if (overwrite) await fs.promises.rm(dir, { recursive: true, force: true });
    await fs.promises.rename(tmp, dir);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

export async function predictAll(model: tf.LayersModel, x: Float32Array, f: number): Promise<Float32Array> {
  const rows = x.length / f;
  if (rows === 0) return new Float32Array(0);
  const out = tf.tidy(() =>
    (model.predict(tf.tensor2d(x, [rows, f]), { batchSize: 4096 }) as tf.Tensor).reshape([rows]),
  );
  try {
    return (await out.data()) as Float32Array;
  } finally {
    out.dispose();
  }
}

function checkInputs(o: TrainOptions): void {
  const f = o.featureNames.length;
  const bad = (msg: string) => new RiskStreamError('INPUT_INVALID', `trainModel: ${msg}`);
  if (f === 0) throw bad('featureNames is empty');
  if (o.x.length !== o.y.length * f)
    throw bad(`x has ${o.x.length} values, expected ${o.y.length} rows x ${f}`);
  if (o.groups.length !== o.y.length)
    throw bad(`groups has ${o.groups.length} entries for ${o.y.length} rows`);
  if (o.y.some((v) => v !== 0 && v !== 1)) throw bad('y must hold only 0 and 1');
  if (o.x.some((v) => !Number.isFinite(v))) throw bad('x holds a non-finite value');
}
