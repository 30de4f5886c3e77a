import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROCESS_PREFIX, ROOT, declaredInSource, engineMetrics } from './engine-metrics';

interface CatalogRow {
  metric: string;
  labels: string[];
  meaning: string;
}

/**
 * The **Metrics** table of README.md's "Operating it": one row per metric, its name in backticks in
 * the first cell, its label names in backticks in the second (values may follow unquoted, in
 * parentheses; "—" for none), what an SRE reads from it in the third.
 */
function readmeCatalog(): CatalogRow[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Operating it'));
  assert.ok(section, 'README.md has no "## Operating it" section');
  const lines = section.split('\n');
  const start = lines.findIndex((l) => l.trim() === '**Metrics**');
  assert.ok(start >= 0, 'README.md "Operating it" has no **Metrics** table');
  const rows: CatalogRow[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' && rows.length === 0) continue;
    if (!line.startsWith('|')) break;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (cells[0] === 'metric' || /^-+$/.test(cells[0] ?? '')) continue;
    assert.equal(cells.length, 3, `README metrics row has ${cells.length} cells, not 3: ${line}`);
    const name = /^`([^`]+)`$/.exec(cells[0]!);
    assert.ok(name, `README metrics row does not name one metric in backticks: ${line}`);
    rows.push({
      metric: name[1]!,
      labels: [...cells[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
      meaning: cells[2]!,
    });
  }
  return rows;
}

describe('deploy/metrics catalog (README.md, Operating it)', () => {
  const metrics = engineMetrics();
  const rows = readmeCatalog();
  const wildcard = `${PROCESS_PREFIX}*`;
  const catalogued = (name: string) =>
    name.startsWith(PROCESS_PREFIX)
      ? rows.some((r) => r.metric === wildcard)
      : rows.some((r) => r.metric === name);

  it('the registry built here has every riskstream_* metric declared in src', () => {
    const missing = [...declaredInSource()]
      .filter(([name]) => !metrics.has(name))
      .map(([name, file]) => `${name} (${file})`);
    assert.deepEqual(
      missing,
      [],
      'registered outside createMetrics/createCaepMetrics: add its create function to engineRegistry() in test/unit/deploy/engine-metrics.ts',
    );
  });

  it('every metric the engine registers is named riskstream_*', () => {
    assert.deepEqual(
      [...metrics.keys()].filter((n) => !n.startsWith('riskstream_')),
      [],
    );
  });

  it('catalogues every metric the engine registers', () => {
    const missing = [...metrics.keys()].filter((n) => !catalogued(n));
    assert.deepEqual(missing, [], 'registered but missing from the README metrics table: add a row for each');
  });

  it('names only metrics that exist, each once', () => {
    const unknown = rows
      .map((r) => r.metric)
      .filter((n) =>
        n === wildcard ? ![...metrics.keys()].some((m) => m.startsWith(PROCESS_PREFIX)) : !metrics.has(n),
      );
    assert.deepEqual(unknown, [], 'in the README metrics table but not registered by the engine');
    const names = rows.map((r) => r.metric);
    assert.deepEqual(
      names.filter((n, i) => names.indexOf(n) !== i),
      [],
      'listed twice in the README metrics table',
    );
  });

  it('lists each metric with exactly its label names and says what it tells', () => {
    for (const row of rows) {
      assert.ok(row.meaning.length > 10, `${row.metric}: say what an SRE reads from it`);
      const metric = metrics.get(row.metric);
      if (!metric) continue; // the wildcard row, or a row the test above reports
      assert.deepEqual(
        [...row.labels].sort(),
        [...metric.labelNames].sort(),
        `${row.metric}: the labels column should list ${metric.labelNames.map((l) => `\`${l}\``).join(', ') || '—'}`,
      );
    }
  });
});
