import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, engineMetrics, labelsOfSeries, metricOfSeries } from './engine-metrics';
import { selectorsIn, seriesIn } from './promql';

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

const DASHBOARD = 'deploy/grafana/dashboards/risk-stream.json';

function readYaml<T>(file: string): T {
  return parse(readFileSync(join(ROOT, file), 'utf8')) as T;
}

/** Every panel, those inside collapsed rows included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('deploy/grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, DASHBOARD), 'utf8')) as {
    uid?: string;
    panels: Panel[];
  };
  const panels = allPanels(dashboard.panels);
  const queries = panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: `${p.id} "${p.title}"`, refId: t.refId, expr: t.expr ?? '' })),
  );
  const metrics = engineMetrics();

  it('is the file Grafana provisions (docker-compose mount, provider path, home dashboard)', () => {
    const compose = readYaml<{
      services: { grafana: { volumes: string[]; environment: Record<string, string> } };
    }>('docker-compose.yml');
    const provider = readYaml<{ providers: { options: { path: string } }[] }>(
      'deploy/grafana/provisioning/dashboards/risk-stream.yml',
    );
    const grafana = compose.services.grafana;
    const mounts = grafana.volumes.map((v) => v.split(':'));
    const dir = provider.providers[0]!.options.path;
    assert.ok(
      mounts.some(([host, container]) => host === './deploy/grafana/dashboards' && container === dir),
      `docker-compose.yml mounts ./deploy/grafana/dashboards on ${dir}`,
    );
    assert.ok(mounts.some(([host]) => host === './deploy/grafana/provisioning'));
    assert.equal(grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, `${dir}/risk-stream.json`);
    assert.equal(dashboard.uid, 'risk-stream');
  });

  it('gives every panel a unique id', () => {
    const ids = panels.map((p) => p.id);
    assert.ok(
      ids.every((id) => Number.isInteger(id)),
      'every panel needs a numeric id',
    );
    assert.deepEqual(
      ids.filter((id, i) => ids.indexOf(id) !== i),
      [],
      'panel ids used twice',
    );
  });

  it('queries only the provisioned Prometheus datasource', () => {
    const provisioned = readYaml<{ datasources: { uid: string; type: string }[] }>(
      'deploy/grafana/provisioning/datasources/prometheus.yml',
    ).datasources.filter((d) => d.type === 'prometheus');
    assert.equal(provisioned.length, 1);
    const want = { type: 'prometheus', uid: provisioned[0]!.uid };
    for (const p of panels) {
      if (p.type === 'row') continue;
      assert.deepEqual(p.datasource, want, `panel ${p.id} "${p.title}" datasource`);
      assert.ok((p.targets ?? []).length > 0, `panel ${p.id} "${p.title}" has no query`);
      for (const t of p.targets ?? []) assert.deepEqual(t.datasource, want, `panel ${p.id} ${t.refId}`);
    }
  });

  it('uses only metrics and labels the engine registers', () => {
    const wrong: string[] = [];
    for (const q of queries) {
      const names = seriesIn(q.expr);
      if (names.length === 0) wrong.push(`${q.panel} ${q.refId}: selects no metric: ${q.expr}`);
      for (const name of names)
        if (!metricOfSeries(metrics, name))
          wrong.push(`${q.panel} ${q.refId}: ${name} is not an engine metric`);
      for (const s of selectorsIn(q.expr)) {
        const metric = metricOfSeries(metrics, s.series);
        if (!metric) continue;
        const known = labelsOfSeries(metric, s.series);
        for (const l of s.labels)
          if (!known.has(l)) wrong.push(`${q.panel} ${q.refId}: ${s.series} has no label ${l}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('has the panels an operator needs', () => {
    const uses = (re: RegExp) => queries.some((q) => re.test(q.expr));
    const needed: [string, RegExp][] = [
      ['throughput', /riskstream_events_total/],
      ['decisions by type', /by \(decision\) \(rate\(riskstream_decisions_total/],
      ['event-to-decision p50', /histogram_quantile\(0\.5, .*riskstream_event_to_decision_seconds_bucket/],
      ['event-to-decision p90', /histogram_quantile\(0\.9, .*riskstream_event_to_decision_seconds_bucket/],
      ['event-to-decision p99', /histogram_quantile\(0\.99, .*riskstream_event_to_decision_seconds_bucket/],
      ['consumer lag per partition', /by \(topic, partition\) \(riskstream_consumer_lag\)/],
      ['dead letters by reason', /by \(reason\) \(rate\(riskstream_dead_letters_total/],
      ['Redis round trip', /riskstream_redis_round_trip_seconds_bucket/],
      ['Redis errors', /riskstream_redis_errors_total/],
      ['model backend and version', /^riskstream_model_info$/],
      ['shadow vs active disagreement', /by \(active, shadow\) .*riskstream_shadow_disagreements_total/],
      ['inline API rate', /by \(status\) \(rate\(riskstream_evaluate_requests_total/],
      ['inline API latency', /histogram_quantile\(0\.99, .*riskstream_evaluate_seconds_bucket/],
      ['CAEP delivery', /by \(outcome\) \(rate\(riskstream_caep_pushes_total/],
      ['CAEP dead SETs', /riskstream_caep_dead_total/],
    ];
    assert.deepEqual(
      needed.filter(([, re]) => !uses(re)).map(([what]) => what),
      [],
      'no panel queries these',
    );
  });

  it('lays panels out on the 24-column grid without overlaps', () => {
    const placed = dashboard.panels.filter((p) => p.gridPos);
    for (const p of placed) {
      const g = p.gridPos!;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `panel ${p.id} "${p.title}" is outside the grid`);
    }
    for (const [i, a] of placed.entries())
      for (const b of placed.slice(i + 1)) {
        const [p, q] = [a.gridPos!, b.gridPos!];
        const overlap = p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h;
        assert.ok(!overlap, `panels ${a.id} and ${b.id} overlap`);
      }
  });
});
