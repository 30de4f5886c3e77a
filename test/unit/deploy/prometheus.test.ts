import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT, engineMetrics, labelsOfSeries, metricOfSeries } from './engine-metrics';
import { selectorsIn, seriesIn } from './promql';

const RULES = 'deploy/prometheus/rules/risk-stream.yml';
const RULE_TESTS = 'deploy/prometheus/tests/risk-stream.test.yml';
const CONFIG = 'deploy/prometheus/prometheus.yml';

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function readYaml<T>(file: string): T {
  return parse(readFileSync(join(ROOT, file), 'utf8')) as T;
}

/** Runs promtool; fails with its whole output unless it exits 0. */
function promtool(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  assert.equal(
    r.status,
    0,
    `promtool ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${output}`,
  );
  return output;
}

describe('deploy/prometheus rules and config', () => {
  const rules = readYaml<{ groups: { name: string; rules: AlertRule[] }[] }>(RULES).groups.flatMap(
    (g) => g.rules,
  );
  const alerts = rules.filter((r) => r.alert);
  let bin = '';

  before(function () {
    // scripts/promtool.sh fetches Debian's package into .run/ the first time (scripts/test.sh does it
    // in its set-up phase, so this is normally instant).
    this.timeout(300_000);
    bin = execFileSync('bash', [join(ROOT, 'scripts/promtool.sh')], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
  });

  it('promtool check rules accepts the rules', () => {
    const out = promtool(bin, ['check', 'rules', RULES]);
    assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`), out);
  });

  it('promtool test rules passes the rule unit tests', () => {
    const out = promtool(bin, ['test', 'rules', RULE_TESTS]);
    assert.match(out, /SUCCESS/, out);
  });

  it('promtool check config accepts prometheus.yml with the rule files docker-compose mounts', () => {
    // prometheus.yml names container paths; map them through the prometheus service's volumes so the
    // check loads the very rule files Prometheus would (promtool finds 0 files for a glob that misses).
    const compose = readYaml<{ services: { prometheus: { volumes: string[]; command: string[] } } }>(
      'docker-compose.yml',
    );
    const mounts = compose.services.prometheus.volumes.map((v) => {
      const [host, container] = v.split(':');
      return { host: join(ROOT, host!), container: container! };
    });
    const configPath = compose.services.prometheus.command
      .find((c) => c.startsWith('--config.file='))
      ?.slice('--config.file='.length);
    assert.ok(
      mounts.some((m) => m.container === configPath && m.host === join(ROOT, CONFIG)),
      `docker-compose.yml mounts ${CONFIG} on --config.file (${configPath})`,
    );
    const config = readYaml<{ rule_files: string[] }>(CONFIG);
    assert.ok(config.rule_files.length > 0, 'prometheus.yml loads no rule files');
    config.rule_files = config.rule_files.map((f) => {
      const m = mounts.find((v) => f.startsWith(`${v.container}/`));
      assert.ok(m, `rule file ${f} is not in a directory docker-compose.yml mounts`);
      return m.host + f.slice(m.container.length);
    });
    const dir = mkdtempSync(join(tmpdir(), 'risk-stream-prom-'));
    try {
      const file = join(dir, 'prometheus.yml');
      writeFileSync(file, stringify(config));
      const out = promtool(bin, ['check', 'config', file]);
      assert.match(out, /SUCCESS: [1-9][0-9]* rule files found/, out);
      assert.ok(
        out.includes(`Checking ${join(ROOT, RULES)}`),
        `${RULES} is not among the rule files loaded:\n${out}`,
      );
      assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`), out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives every alert a severity, a summary and a description naming what to check', () => {
    assert.ok(alerts.length > 0);
    for (const a of alerts) {
      assert.ok(['warning', 'critical'].includes(a.labels?.severity ?? ''), `${a.alert}: severity`);
      assert.ok((a.annotations?.summary ?? '').length > 10, `${a.alert}: summary`);
      assert.match(a.annotations?.description ?? '', /riskstream_|`|\/readyz/, `${a.alert}: description`);
    }
  });

  it('has the alerts an operator needs', () => {
    const names = alerts.map((a) => a.alert);
    for (const name of [
      'RiskStreamConsumerLagGrowing',
      'RiskStreamDeadLettersSpiking',
      'RiskStreamDecisionLatencyHigh',
      'RiskStreamRedisErrors',
      'RiskStreamNoModelLoaded',
      'RiskStreamScoringStalled',
      'RiskStreamNoEventsScored',
    ])
      assert.ok(names.includes(name), `missing alert ${name}`);
  });

  it('uses only metrics and labels the engine registers', () => {
    const metrics = engineMetrics();
    const wrong: string[] = [];
    for (const r of rules) {
      for (const name of seriesIn(r.expr))
        if (!metricOfSeries(metrics, name))
          wrong.push(`${r.alert ?? r.record}: ${name} is not an engine metric`);
      for (const s of selectorsIn(r.expr)) {
        const metric = metricOfSeries(metrics, s.series);
        if (!metric) continue;
        const known = labelsOfSeries(metric, s.series);
        for (const l of s.labels) if (!known.has(l)) wrong.push(`${r.alert}: ${s.series} has no label ${l}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('unit-tests every alert both firing and silent', () => {
    const cases = readYaml<{
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] | null }[] }[];
    }>(RULE_TESTS).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${RULE_TESTS}: no case where ${a.alert} fires`,
      );
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${RULE_TESTS}: no case where ${a.alert} stays silent`,
      );
    }
    const unknown = cases.map((c) => c.alertname).filter((n) => !alerts.some((a) => a.alert === n));
    assert.deepEqual(unknown, [], 'tests of alerts that do not exist');
  });
});
