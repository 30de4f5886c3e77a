/**
 * Loads one registered model version and scores feature rows in batches. Refuses a model whose
 * features differ from what the running code computes: a silently misaligned input vector would
 * give plausible-looking but meaningless scores.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RiskStreamError } from '../errors';
import { initBackend, type BackendName } from './backend';
import { loadArtifacts } from './io';
import { featureMismatch, MANIFEST_JSON, parseManifest, type ModelManifest } from './manifest';
import { activeVersion, modelDir } from './registry';

export interface LoadScorerOptions {
  /** Default: the package's models/ folder (see `defaultModelsDir`). */
  modelsDir: string;
  name: string;
  /** Default: the ACTIVE version, else the highest. */
  version?: string;
  /** The feature version and names (in order) the running code computes. */
  expectedFeatureVersion: number;
  expectedFeatureNames: readonly string[];
}

export interface Scorer {
  readonly name: string;
  readonly version: string;
  readonly featureVersion: number;
  readonly featureNames: readonly string[];
  readonly backend: BackendName;
  readonly manifest: ModelManifest;
  /** Risk scores for `rows` row-major feature rows (`x.length === rows * featureNames.length`). */
  score(x: Float32Array, rows: number): Promise<Float32Array>;
  /**
   * Occlusion attribution in logit space, rows x G row-major: logit(row) - logit(row with the
   * features of group k set to 0); by default one group per feature. Features are scaled so 0
   * means "nothing unusual", which makes 0 the reference value.
   */
  contributions(
    x: Float32Array,
    rows: number,
    groups?: readonly (readonly number[])[],
  ): Promise<Float32Array>;
  dispose(): void;
}

export async function loadScorer(options: LoadScorerOptions): Promise<Scorer> {
  const { modelsDir, name, expectedFeatureVersion, expectedFeatureNames } = options;
  const version = options.version ?? activeVersion(modelsDir, name);
  const dir = modelDir(modelsDir, name, version);
  const manifest = readManifest(path.join(dir, MANIFEST_JSON));
  if (manifest.name !== name || manifest.version !== version) {
    throw new RiskStreamError(
      'MODEL_INVALID',
      `${dir} holds a manifest for ${manifest.name} ${manifest.version}, not ${name} ${version}`,
    );
  }
  const diffs = featureMismatch(manifest, expectedFeatureVersion, expectedFeatureNames);
  if (diffs.length > 0) {
    throw new RiskStreamError(
      'FEATURE_VERSION_MISMATCH',
      `model ${name} ${version} was trained on different features than this build computes:\n- ` +
        diffs.join('\n- '),
    );
  }

  const backend = (await initBackend()).name;
  const artifacts = await loadArtifacts(dir);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    throw new RiskStreamError('MODEL_INVALID', `cannot build model ${name} ${version} from ${dir}`, {
      cause: err,
    });
  }
  const features = manifest.features.length;
  const inShape = model.inputs.length === 1 ? model.inputs[0]?.shape : undefined;
  const outShape = model.outputs.length === 1 ? model.outputs[0]?.shape : undefined;
  if (inShape?.length !== 2 || inShape[1] !== features || outShape?.length !== 2 || outShape[1] !== 1) {
    model.dispose();
    throw new RiskStreamError(
      'MODEL_INVALID',
      `model ${name} ${version} maps ${JSON.stringify(model.inputs.map((t) => t.shape))} to ` +
        `${JSON.stringify(model.outputs.map((t) => t.shape))}; the manifest needs [[null,${features}]] to [[null,1]]`,
    );
  }
  return new LayersScorer(model, manifest, backend);
}

function readManifest(file: string): ModelManifest {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskStreamError('MODEL_NOT_FOUND', `cannot read ${file}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RiskStreamError('MODEL_INVALID', `${file} is not JSON`, { cause: err });
  }
  return parseManifest(value, file);
}

class LayersScorer implements Scorer {
  readonly name: string;
  readonly version: string;
  readonly featureVersion: number;
  readonly featureNames: readonly string[];
  private disposed = false;
  /** The model up to its penultimate layer, built on first use (for logits). */
  private hidden: tf.LayersModel | undefined;

  constructor(
    private readonly model: tf.LayersModel,
    readonly manifest: ModelManifest,
    readonly backend: BackendName,
  ) {
    this.name = manifest.name;
    this.version = manifest.version;
    this.featureVersion = manifest.feature_version;
    this.featureNames = manifest.features;
  }

  async score(x: Float32Array, rows: number): Promise<Float32Array> {
    this.checkInput(x, rows);
    return this.predict(x, rows);
  }

  async contributions(
    x: Float32Array,
    rows: number,
    groups: readonly (readonly number[])[] = this.featureNames.map((_, j) => [j]),
  ): Promise<Float32Array> {
    this.checkInput(x, rows);
    const f = this.featureNames.length;
    const g = groups.length;
    // Per row: the row itself, then one copy per group with the group's features zeroed; one batch.
    const variants = new Float32Array(rows * (g + 1) * f);
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * f, (r + 1) * f);
      for (let v = 0; v <= g; v++) {
        const at = (r * (g + 1) + v) * f;
        variants.set(row, at);
        if (v > 0) for (const j of groups[v - 1] as readonly number[]) variants[at + j] = 0;
      }
    }
    // In logit space: near a score of 1 every probability difference vanishes, logits do not.
    const s = await this.predict(variants, rows * (g + 1), true);
    const out = new Float32Array(rows * g);
    for (let r = 0; r < rows; r++) {
      const base = s[r * (g + 1)] as number;
      for (let k = 0; k < g; k++) out[r * g + k] = base - (s[r * (g + 1) + k + 1] as number);
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }

  private async predict(x: Float32Array, rows: number, logits = false): Promise<Float32Array> {
    if (rows === 0) return new Float32Array(0);
    const f = this.featureNames.length;
    // batchSize = rows: predict otherwise splits the input into batches of 32 and concatenates.
    const out = tf.tidy(() => {
      const input = tf.tensor2d(x, [rows, f]);
      if (logits) return this.logits(input).reshape([rows]);
      const y = this.model.predict(input, { batchSize: rows }) as tf.Tensor;
      return y.reshape([rows]);
    });
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  /**
   * The final sigmoid layer's input: the penultimate activations times the last layer's kernel plus
   * its bias. For a model without a final sigmoid Dense layer, the logit of the clamped score.
   */
  private logits(input: tf.Tensor2D): tf.Tensor {
    const layers = this.model.layers;
    const last = layers[layers.length - 1];
    const config = last?.getConfig() as { activation?: string } | undefined;
    if (last && layers.length >= 2 && last.getClassName() === 'Dense' && config?.activation === 'sigmoid') {
      this.hidden ??= tf.model({
        inputs: this.model.inputs,
        outputs: layers[layers.length - 2]!.output as tf.SymbolicTensor,
      });
      const [kernel, bias] = last.getWeights();
      const h = this.hidden.predict(input, { batchSize: input.shape[0] }) as tf.Tensor2D;
      return bias ? h.matMul(kernel as tf.Tensor2D).add(bias) : h.matMul(kernel as tf.Tensor2D);
    }
    const p = (this.model.predict(input, { batchSize: input.shape[0] }) as tf.Tensor).clipByValue(
      1e-7,
      1 - 1e-7,
    );
    return p.div(tf.scalar(1).sub(p)).log();
  }

  private checkInput(x: Float32Array, rows: number): void {
    if (this.disposed) throw new Error(`scorer ${this.name} ${this.version} is disposed`);
    const f = this.featureNames.length;
    if (!Number.isInteger(rows) || rows < 0 || x.length !== rows * f) {
      throw new RiskStreamError(
        'INPUT_INVALID',
        `expected ${rows} rows x ${f} features, got ${x.length} values`,
      );
    }
    // A NaN score compares false against every threshold, which would quietly ALLOW; refuse it.
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i] as number)) {
        const r = Math.floor(i / f);
        throw new RiskStreamError(
          'INPUT_INVALID',
          `row ${r} feature ${this.featureNames[i % f]} is ${x[i]}, not a finite number`,
        );
      }
    }
  }
}
