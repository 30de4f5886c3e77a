/**
 * Registers a model trained elsewhere (Keras, converted with tensorflowjs_converter) as a version:
 * checks that it takes exactly the engine's features and answers one score, measures it on a
 * validation and a test split of labelled feature rows (split by session, as `train` does), and
 * writes model.json, weights.bin and a complete manifest.json into the registry.
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { RiskStreamError } from '../errors';
import { loadArtifacts } from './io';
import { FRAMEWORK, OUTPUT_DESCRIPTION, parseManifest, type ModelManifest } from './manifest';
import { evaluateBinary } from './metrics';
import { modelDir, setActive } from './registry';
import { predictAll, publish, selectRows, splitBySession } from './train';

export interface ImportOptions {
  /** A TF.js Layers model folder (model.json and its weight files). */
  from: string;
  modelsDir: string;
  name: string;
  version: string;
  featureVersion: number;
  featureNames: readonly string[];
  /** Labelled feature rows to measure it on (row-major, featureNames.length columns) and their sessions. */
  x: Float32Array;
  y: ArrayLike<number>;
  groups: readonly string[];
  seed: number;
  /** How those rows were made, for the manifest. */
  data: string;
  activate?: boolean;
}

export async function importModel(opts: ImportOptions): Promise<{ dir: string; manifest: ModelManifest }> {
  const f = opts.featureNames.length;
  const dir = modelDir(opts.modelsDir, opts.name, opts.version);
  if (fs.existsSync(dir)) throw new RiskStreamError('CONFIG_INVALID', `${dir} exists; pick a new version`);
  const model = await tf.loadLayersModel(tf.io.fromMemory(await loadArtifacts(opts.from)));
  try {
    const input = model.inputs[0]?.shape ?? [];
    const output = model.outputs[0]?.shape ?? [];
    if (model.inputs.length !== 1 || input.length !== 2 || input[1] !== f) {
      throw new RiskStreamError(
        'MODEL_INVALID',
        `${opts.from}: the model takes input shape ${JSON.stringify(input)}; the engine computes [null, ${f}] ` +
          `(features v${opts.featureVersion}: ${opts.featureNames.join(', ')})`,
      );
    }
    if (model.outputs.length !== 1 || output.length !== 2 || output[1] !== 1) {
      throw new RiskStreamError(
        'MODEL_INVALID',
        `${opts.from}: the model answers shape ${JSON.stringify(output)}; the engine needs one score per row ([null, 1], sigmoid)`,
      );
    }
    const split = splitBySession(opts.groups, opts.y, opts.seed);
    const measure = async (idx: number[]) => {
      const part = selectRows(opts.x, opts.y, f, idx);
      return {
        sessions: new Set(idx.map((i) => opts.groups[i])).size,
        ...evaluateBinary(await predictAll(model, part.x, f), part.y),
      };
    };
    const rows = opts.y.length;
    let positives = 0;
    for (let i = 0; i < rows; i++) positives += opts.y[i] === 1 ? 1 : 0;
    const manifest = parseManifest({
      name: opts.name,
      version: opts.version,
      feature_version: opts.featureVersion,
      features: [...opts.featureNames],
      created_at: new Date().toISOString(),
      framework: FRAMEWORK,
      input_shape: [null, f],
      output: OUTPUT_DESCRIPTION,
      training: {
        seed: opts.seed,
        samples: 0,
        positives: 0,
        sessions: 0,
        epochs: 0,
        data: `imported from ${opts.from}; measured on ${opts.data} (${rows} rows, ${positives} positive)`,
      },
      metrics: { val: await measure(split.val), test: await measure(split.test) },
    });
    await publish(model, manifest, dir, false);
    if (opts.activate) setActive(opts.modelsDir, opts.name, opts.version);
    return { dir, manifest };
  } finally {
    model.dispose();
  }
}
