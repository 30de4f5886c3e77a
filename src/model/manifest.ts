/**
 * `models/<name>/<version>/manifest.json`: what a trained model expects as input (feature version
 * and names, in order), how it was trained and how it scored on held-out sessions.
 */
import { z } from 'zod';
import { RiskStreamError } from '../errors';

export const MANIFEST_JSON = 'manifest.json';
export const FRAMEWORK = 'tfjs-layers';
export const OUTPUT_DESCRIPTION = 'sigmoid risk score 0..1';

const nullableRate = z.number().min(0).max(1).nullable();

const thresholdStatsSchema = z.object({
  threshold: z.number(),
  tp: z.number().int().nonnegative(),
  fp: z.number().int().nonnegative(),
  tn: z.number().int().nonnegative(),
  fn: z.number().int().nonnegative(),
  precision: nullableRate,
  recall: nullableRate,
  fpr: nullableRate,
});

const splitMetricsSchema = z.object({
  rows: z.number().int().nonnegative(),
  positives: z.number().int().nonnegative(),
  sessions: z.number().int().nonnegative(),
  roc_auc: nullableRate,
  pr_auc: nullableRate,
  log_loss: z.number().nonnegative().nullable(),
  at: z.array(thresholdStatsSchema),
});

const manifestSchema = z
  .object({
    name: z.string().min(1),
    version: z.string().min(1),
    feature_version: z.number().int().nonnegative(),
    features: z.array(z.string().min(1)).min(1),
    created_at: z.string().min(1),
    framework: z.literal(FRAMEWORK),
    /** Keras-style batch input shape: [null, number of features]. */
    input_shape: z.tuple([z.null(), z.number().int().positive()]),
    output: z.literal(OUTPUT_DESCRIPTION),
    training: z.object({
      seed: z.number().int(),
      samples: z.number().int().nonnegative(),
      positives: z.number().int().nonnegative(),
      sessions: z.number().int().nonnegative(),
      epochs: z.number().int().nonnegative(),
      data: z.string(),
      // Optional detail for the model card; older manifests may lack it.
      best_epoch: z.number().int().nonnegative().optional(),
      hidden: z.array(z.number().int().positive()).optional(),
      batch_size: z.number().int().positive().optional(),
      class_weight: z.object({ 0: z.number().positive(), 1: z.number().positive() }).optional(),
      backend: z.string().optional(),
      calibration: z
        .object({
          method: z.literal('platt'),
          /** False when it would have raised the validation log loss (the model kept its scores). */
          applied: z.boolean().optional(),
          a: z.number(),
          b: z.number(),
          val_log_loss_before: z.number(),
          val_log_loss_after: z.number(),
          val_ece_before: z.number(),
          val_ece_after: z.number(),
        })
        .optional(),
    }),
    metrics: z.object({ val: splitMetricsSchema, test: splitMetricsSchema }),
    thresholds: z
      .object({ step_up: z.number().min(0).max(1), terminate: z.number().min(0).max(1) })
      .refine((t) => t.step_up <= t.terminate, { message: 'step_up must not exceed terminate' })
      .optional(),
  })
  .refine((m) => m.input_shape[1] === m.features.length, {
    message: 'input_shape[1] must equal the number of features',
    path: ['input_shape'],
  })
  .refine((m) => new Set(m.features).size === m.features.length, {
    message: 'feature names must be unique',
    path: ['features'],
  });

export type ModelManifest = z.infer<typeof manifestSchema>;
export type SplitMetrics = z.infer<typeof splitMetricsSchema>;

/** Validates a parsed manifest; MODEL_INVALID names every field that is wrong. */
export function parseManifest(value: unknown, source = MANIFEST_JSON): ModelManifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) {
    throw new RiskStreamError('MODEL_INVALID', `${source} is invalid:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/**
 * What differs between the features a model was trained on and the features the running code
 * computes; an empty list means they match. Names are compared in order, since the model sees
 * positions, not names.
 */
export function featureMismatch(
  manifest: Pick<ModelManifest, 'feature_version' | 'features'>,
  expectedVersion: number,
  expectedNames: readonly string[],
): string[] {
  const diffs: string[] = [];
  if (manifest.feature_version !== expectedVersion) {
    diffs.push(`feature_version: model ${manifest.feature_version}, code ${expectedVersion}`);
  }
  const missing = expectedNames.filter((n) => !manifest.features.includes(n));
  const extra = manifest.features.filter((n) => !expectedNames.includes(n));
  if (missing.length > 0) diffs.push(`computed by the code but not in the model: ${missing.join(', ')}`);
  if (extra.length > 0) diffs.push(`in the model but not computed by the code: ${extra.join(', ')}`);
  if (missing.length === 0 && extra.length === 0) {
    const moved = expectedNames
      .map((n, i) => ({ n, i, m: manifest.features.indexOf(n) }))
      .filter((d) => d.i !== d.m)
      .map((d) => `${d.n} (model #${d.m}, code #${d.i})`);
    if (moved.length > 0) diffs.push(`same features in a different order: ${moved.join(', ')}`);
  }
  return diffs;
}
