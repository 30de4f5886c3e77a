/**
 * Local-filesystem IO for TF.js Layers models without tfjs-node. The files are the standard
 * Layers format (model.json + weights.bin), so tfjs-node's `file://` loader reads them as well.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RiskStreamError } from '../errors';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** A save handler for `model.save(...)` writing `<dir>/model.json` and `<dir>/weights.bin`. */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      if (artifacts.modelTopology instanceof ArrayBuffer || artifacts.modelTopology === undefined) {
        throw new Error('fileSaveHandler supports Layers models (JSON topology) only');
      }
      const weights = weightBytes(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
      };
      if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata !== undefined) {
        modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      }
      await fs.promises.mkdir(dir, { recursive: true });
      // Weights first: a model.json never points at weights that are not on disk yet.
      await fs.promises.writeFile(path.join(dir, WEIGHTS_BIN), weights);
      await fs.promises.writeFile(path.join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: Buffer.byteLength(JSON.stringify(artifacts.modelTopology)),
          weightSpecsBytes: Buffer.byteLength(JSON.stringify(modelJson.weightsManifest)),
          weightDataBytes: weights.byteLength,
        },
      };
    },
  };
}

/**
 * Reads `<dir>/model.json` and every weight file it names, for
 * `tf.loadLayersModel(tf.io.fromMemory(artifacts))`. Throws MODEL_NOT_FOUND when model.json is
 * missing and MODEL_INVALID when it or the weights are unreadable or inconsistent.
 */
export async function loadArtifacts(dir: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = path.join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await fs.promises.readFile(jsonPath, 'utf8');
  } catch (err) {
    throw new RiskStreamError('MODEL_NOT_FOUND', `cannot read ${jsonPath}`, { cause: err });
  }
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(text) as tf.io.ModelJSON;
  } catch (err) {
    throw new RiskStreamError('MODEL_INVALID', `${jsonPath} is not JSON`, { cause: err });
  }
  if (typeof modelJson !== 'object' || modelJson === null || typeof modelJson.modelTopology !== 'object') {
    throw new RiskStreamError('MODEL_INVALID', `${jsonPath} has no modelTopology`);
  }
  if (!Array.isArray(modelJson.weightsManifest)) {
    throw new RiskStreamError('MODEL_INVALID', `${jsonPath} has no weightsManifest`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of modelJson.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = path.resolve(dir, p);
      // Weight paths are relative to model.json; refuse anything that escapes the model folder.
      if (path.relative(dir, file).startsWith('..')) {
        throw new RiskStreamError('MODEL_INVALID', `${jsonPath} names a weight file outside ${dir}: ${p}`);
      }
      try {
        buffers.push(await fs.promises.readFile(file));
      } catch (err) {
        throw new RiskStreamError('MODEL_INVALID', `cannot read weight file ${file}`, { cause: err });
      }
    }
  }
  const data = Buffer.concat(buffers);
  const expected = specs.reduce((sum, s) => sum + specBytes(s), 0);
  if (data.byteLength !== expected) {
    throw new RiskStreamError(
      'MODEL_INVALID',
      `weights in ${dir} are ${data.byteLength} bytes but the manifest describes ${expected}`,
    );
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: modelJson.modelTopology,
    weightSpecs: specs,
    // A fresh ArrayBuffer: a Node Buffer may be a view into a larger shared pool.
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
  };
  if (modelJson.trainingConfig !== undefined) artifacts.trainingConfig = modelJson.trainingConfig;
  if (modelJson.userDefinedMetadata !== undefined)
    artifacts.userDefinedMetadata = modelJson.userDefinedMetadata;
  return artifacts;
}

function weightBytes(data: tf.io.WeightData | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  // Since tfjs 4.10 weightData may be a list of buffers (models over 2 GB); join them.
  const parts = Array.isArray(data) ? data : [data];
  return Buffer.concat(parts.map((b) => Buffer.from(b)));
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization !== undefined) {
    const q = spec.quantization.dtype;
    return n * (q === 'uint8' ? 1 : q === 'uint16' || q === 'float16' ? 2 : 4);
  }
  const bytes = DTYPE_BYTES[spec.dtype];
  if (bytes === undefined)
    throw new RiskStreamError('MODEL_INVALID', `unsupported weight dtype ${spec.dtype}`);
  return n * bytes;
}
