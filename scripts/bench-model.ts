/**
 * `npm run bench:model`: inference cost of the active model alone, per event, at several batch
 * sizes, on the backend the engine would pick. The rows are real feature rows: simulated traffic
 * run through the engine's own window and feature code. Prints the median of repeated calls.
 *
 *   npm run bench:model                 batches of 1, 64, 512 and 2000 rows
 *   npm run bench:model -- 512 4096     other batch sizes
 */
import { featurize } from '../src/cli/train';
import { loadSettings } from '../src/config/load';
import { FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION } from '../src/features/extract';
import { silentLogger } from '../src/log';
import { initBackend } from '../src/model/backend';
import { defaultModelsDir } from '../src/model/registry';
import { loadScorer } from '../src/model/scorer';
import { simulate } from '../src/sim/generate';

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number);
  const batches =
    sizes.length > 0 && sizes.every((n) => Number.isInteger(n) && n > 0) ? sizes : [1, 64, 512, 2000];
  const settings = loadSettings({ env: {} });
  const backend = await initBackend(settings.model.backend, silentLogger());
  const scorer = await loadScorer({
    modelsDir: settings.model.dir ?? defaultModelsDir(),
    name: settings.model.name,
    expectedFeatureVersion: FEATURE_VERSION,
    expectedFeatureNames: FEATURE_NAMES,
  });
  const { events } = simulate({
    seed: 5,
    sessions: 300,
    attackRate: 0.15,
    start: Date.UTC(2026, 0, 5, 8),
    spanMs: 3_600_000,
  });
  const rows = await featurize(settings, events);
  const available = rows.length / FEATURE_COUNT;
  console.log(`model ${scorer.name} ${scorer.version} (${FEATURE_COUNT} features) on ${backend.name}`);
  console.log('batch rows   median per call   per event');
  for (const n of batches) {
    const x = new Float32Array(n * FEATURE_COUNT);
    for (let r = 0; r < n; r++) {
      const from = (r % available) * FEATURE_COUNT;
      x.set(rows.subarray(from, from + FEATURE_COUNT), r * FEATURE_COUNT);
    }
    for (let i = 0; i < 20; i++) await scorer.score(x, n); // warm up
    const times: number[] = [];
    const until = performance.now() + 2000;
    while (performance.now() < until || times.length < 20) {
      const t = performance.now();
      await scorer.score(x, n);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)] as number;
    console.log(
      `${String(n).padStart(10)}   ${med.toFixed(3).padStart(12)} ms   ${((med * 1000) / n).toFixed(2).padStart(7)} µs`,
    );
  }
  scorer.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
