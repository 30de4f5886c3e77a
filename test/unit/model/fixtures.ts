/** Shared synthetic data and one trained model, memoised so the model suite trains only once. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seededRandom, trainModel, type TrainResult } from '../../../src/model/train';

export const FEATURES = ['x0', 'x1', 'x2'] as const;
export const FEATURE_VERSION = 1;
export const MODEL_NAME = 'synthetic';
export const MODEL_VERSION = '1.0.0';

export interface Synthetic {
  x: Float32Array;
  y: Uint8Array;
  groups: string[];
}

/** Label = x0 > 0.5 or x2 > 0.8; x1 is noise. Sessions of 4-11 rows. */
export function makeSynthetic(sessions: number, seed: number): Synthetic {
  const rand = seededRandom(seed);
  const xs: number[] = [];
  const ys: number[] = [];
  const groups: string[] = [];
  for (let s = 0; s < sessions; s++) {
    const n = 4 + Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) {
      const row = [rand(), rand(), rand()] as [number, number, number];
      xs.push(...row);
      ys.push(row[0] > 0.5 || row[2] > 0.8 ? 1 : 0);
      groups.push(`s${s}`);
    }
  }
  return { x: Float32Array.from(xs), y: Uint8Array.from(ys), groups };
}

const made: string[] = [];
// Removed when the test process ends, so repeated runs do not pile up folders in /tmp.
process.once('exit', () => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

export function tempDir(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `risk-stream-${tag}-`));
  made.push(dir);
  return dir;
}

let trained: Promise<{ modelsDir: string; data: Synthetic; result: TrainResult }> | undefined;

export function trainedModel(): Promise<{ modelsDir: string; data: Synthetic; result: TrainResult }> {
  trained ??= (async () => {
    const modelsDir = tempDir('models');
    const data = makeSynthetic(400, 7);
    const result = await trainModel({
      ...data,
      featureNames: [...FEATURES],
      featureVersion: FEATURE_VERSION,
      name: MODEL_NAME,
      version: MODEL_VERSION,
      modelsDir,
      seed: 42,
      learningRate: 0.01,
      batchSize: 64,
      // Small and weighted as the tests were written for: a probe row near the boundary must not
      // saturate the score (the scorer tests compare occlusion with score differences there).
      hidden: [16, 8],
      classWeighting: 'sqrt',
      data: 'test fixture: uniform x0..x2, label = x0 > 0.5 or x2 > 0.8',
      activate: true,
    });
    return { modelsDir, data, result };
  })();
  return trained;
}
