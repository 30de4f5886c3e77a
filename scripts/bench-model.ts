/**
 * Micro-benchmark of the scorer: the F=24 MLP (24 -> 16 -> 8 -> 1), untrained (latency does not
 * depend on the weights), through the real save -> load -> Scorer path.
 *
 *   npx tsx scripts/bench-model.ts [auto|tensorflow|wasm|cpu]
 *
 * Prints figures and the machine; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend, type BackendPreference } from '../src/model/backend';
import { fileSaveHandler } from '../src/model/io';
import { FRAMEWORK, MANIFEST_JSON, OUTPUT_DESCRIPTION } from '../src/model/manifest';
import { evaluateBinary } from '../src/model/metrics';
import { loadScorer, type Scorer } from '../src/model/scorer';
import { buildModel, seededRandom } from '../src/model/train';

const F = 24;
const BATCHES = [1, 64, 512, 2048];

async function makeScorer(): Promise<Scorer> {
  const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-model-'));
  const dir = path.join(modelsDir, 'bench', '0.0.0');
  const model = buildModel(F, [16, 8], 1);
  await model.save(fileSaveHandler(dir));
  model.dispose();
  const features = Array.from({ length: F }, (_, i) => `f${i}`);
  const empty = { sessions: 0, ...evaluateBinary([], []) };
  const manifest = {
    name: 'bench',
    version: '0.0.0',
    feature_version: 0,
    features,
    created_at: new Date().toISOString(),
    framework: FRAMEWORK,
    input_shape: [null, F],
    output: OUTPUT_DESCRIPTION,
    training: {
      seed: 1,
      samples: 0,
      positives: 0,
      sessions: 0,
      epochs: 0,
      data: 'untrained benchmark model',
    },
    metrics: { val: empty, test: empty },
  };
  fs.writeFileSync(path.join(dir, MANIFEST_JSON), JSON.stringify(manifest));
  const scorer = await loadScorer({
    modelsDir,
    name: 'bench',
    version: '0.0.0',
    expectedFeatureVersion: 0,
    expectedFeatureNames: features,
  });
  fs.rmSync(modelsDir, { recursive: true, force: true });
  return scorer;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Runs `fn` until ~`budgetMs` has passed (at least 20 times) after a warm-up; returns ms per call. */
async function time(fn: () => Promise<unknown>, budgetMs: number): Promise<number[]> {
  for (let i = 0; i < 10; i++) await fn();
  const samples: number[] = [];
  const end = performance.now() + budgetMs;
  while (samples.length < 20 || (performance.now() < end && samples.length < 5000)) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return samples.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const preferred = (process.argv[2] ?? 'auto') as BackendPreference;
  const backend = await initBackend(preferred);
  const scorer = await makeScorer();
  const cpus = os.cpus();
  console.log(
    `backend: ${backend.name}${backend.tried.length ? ` (tried: ${backend.tried.map((t) => `${t.name}: ${t.error}`).join('; ')})` : ''}`,
  );
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown'} x${cpus.length}, node ${process.version}, ${os.platform()} ${os.arch()}`,
  );
  console.log(`model:   MLP ${F} -> 16 -> 8 -> 1\n`);
  console.log('what           batch   p50 ms   p99 ms  mean ms   us/event   events/s');
  const rand = seededRandom(7);
  for (const what of ['score', 'contributions'] as const) {
    for (const rows of BATCHES) {
      const x = Float32Array.from({ length: rows * F }, () => rand());
      const run = what === 'score' ? () => scorer.score(x, rows) : () => scorer.contributions(x, rows);
      const ms = await time(run, 1500);
      const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
      console.log(
        [
          what.padEnd(13),
          String(rows).padStart(6),
          quantile(ms, 0.5).toFixed(3).padStart(8),
          quantile(ms, 0.99).toFixed(3).padStart(8),
          mean.toFixed(3).padStart(8),
          ((mean * 1000) / rows).toFixed(2).padStart(10),
          Math.round((rows * 1000) / mean)
            .toLocaleString('en-US')
            .padStart(10),
        ].join(' '),
      );
    }
  }
  scorer.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
