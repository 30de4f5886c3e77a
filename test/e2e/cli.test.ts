import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FEATURE_VERSION } from '../../src/features/extract';
import { activeVersion } from '../../src/model/registry';
import { ROOT, runCli, spawnCli } from '../helpers/cli';
import { REDIS_URL, deleteKeys, freePort, testRedis, uniqueName } from '../helpers/services';

/** The model version the package ships as active. */
const SHIPPED = activeVersion(join(ROOT, 'models'), 'session-risk');

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(args, { env: { ...env, RISK_STREAM_LOG_LEVEL: 'warn' }, timeoutMs: 180_000 });

const readJsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('CLI end to end (compiled bin/risk-stream.js)', function () {
  this.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'rs-e2e-'));
  const events = join(dir, 'events.jsonl');
  const labels = join(dir, 'labels.jsonl');
  let validLines = 0;
  const garbageLines: number[] = [];

  before(() => {
    const r = cli(['simulate', '--sessions', '300', '--seed', '5', '--out', events, '--labels', labels]);
    assert.equal(r.code, 0, r.stderr);
    validLines = readJsonl(events).length;
    assert.equal(readJsonl(labels).length, validLines);
    const garbage = [
      'this is not json',
      '{"event_id": 42}',
      '',
      JSON.stringify({
        ...readJsonl(events)[0],
        event_id: 'e-huge',
        client: { ...(readJsonl(events)[0]!.client as object), user_agent: 'x'.repeat(1_048_576) },
      }),
      '{"event_id": "truncated", "ts": 17',
    ];
    for (const g of garbage) {
      appendFileSync(events, g + '\n');
      garbageLines.push(validLines + garbageLines.length + 1);
    }
  });

  it('replay: one decision per valid line in input order, every bad line dead-lettered with its line number', () => {
    const out = join(dir, 'decisions.jsonl');
    const dead = join(dir, 'dead.jsonl');
    const r = cli(['replay', '-i', events, '-o', out, '-d', dead, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as {
      events: number;
      deadLetters: number;
      decisions: Record<string, number>;
      eventsPerSecond: number;
    };
    assert.equal(summary.events, validLines + garbageLines.length);
    assert.equal(summary.deadLetters, garbageLines.length);
    const decisions = readJsonl(out);
    assert.equal(decisions.length, validLines);
    const inputIds = readFileSync(events, 'utf8')
      .split('\n')
      .slice(0, validLines)
      .map((l) => (JSON.parse(l) as { event_id: string }).event_id);
    assert.deepEqual(
      decisions.map((d) => d.event_id),
      inputIds,
    );
    assert.ok(summary.decisions.ALLOW! > 0 && summary.decisions.ALLOW! < validLines);
    const deadLetters = readJsonl(dead);
    assert.deepEqual(
      deadLetters.map((d) => d.line),
      garbageLines,
    );
    for (const dl of deadLetters)
      assert.ok(typeof dl.reason === 'string' && (dl.reason as string).length > 0);
    assert.deepEqual(
      deadLetters.map((d) => d.reason_code),
      ['INVALID_JSON', 'WRONG_TYPE', 'EMPTY', 'OVERSIZED', 'INVALID_JSON'],
    );
  });

  it('replay is deterministic, and --redis gives the same decisions as the in-memory store', async () => {
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    const prefix = `${uniqueName('rs-e2e')}:`;
    assert.equal(cli(['replay', '-i', events, '-o', a, '-d', join(dir, 'da.jsonl')]).code, 0);
    const r = cli(['replay', '-i', events, '-o', b, '-d', join(dir, 'db.jsonl'), '--redis', REDIS_URL], {
      RISK_STREAM_REDIS_KEY_PREFIX: prefix,
    });
    assert.equal(r.code, 0, r.stderr);
    const strip = (rows: Record<string, unknown>[]) => rows.map(({ decided_at: _d, ...rest }) => rest);
    assert.deepEqual(strip(readJsonl(b)), strip(readJsonl(a)));
    const redis = testRedis();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('demo: runs the pipeline, serves /metrics and /healthz, stops after --duration; --evidence writes verifiable records', async () => {
    const port = await freePort();
    const evidence = join(dir, 'demo-evidence.jsonl');
    const demo = spawnCli(
      ['demo', '--duration', '12s', '--rate', '400', '--port', String(port), '--evidence', evidence],
      { env: { RISK_STREAM_LOG_LEVEL: 'warn' } },
    );
    let metrics = '';
    await demo.waitFor(
      async () => {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status !== 200) return false;
        metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return metrics.includes('riskstream_decisions_total{');
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.match(metrics, /riskstream_events_total\{source="in-process"\} \d+/);
    assert.match(
      metrics,
      new RegExp(
        `riskstream_model_info\\{name="session-risk",version="[^"]+",feature_version="${FEATURE_VERSION}",backend="(wasm|cpu|tensorflow)"\\} 1`,
      ),
    );
    assert.match(metrics, /riskstream_stage_seconds_bucket\{le="[^"]+",stage="model"\}/);
    assert.equal(await demo.exited, 0, demo.stderr);
    assert.match(demo.stdout, /demo finished after .* events .*ALLOW \d+, STEP_UP \d+/);

    // The demo's evidence: one terminated session's chains exported from the file, and verified.
    const records = readFileSync(evidence, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { session_id: string; decision: string; seq: number });
    const terminated = records.find((r) => r.decision === 'TERMINATE');
    assert.ok(terminated, 'the demo terminated a token replay and wrote its evidence');
    const caseFile = join(dir, 'demo-case.jsonl');
    const exported = runCli([
      'evidence',
      'export',
      '--from',
      evidence,
      '--session',
      terminated.session_id,
      '-o',
      caseFile,
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    const verified = runCli(['evidence', 'verify', caseFile]);
    assert.equal(verified.code, 0, verified.stdout);
    assert.match(verified.stdout, /1 session\(s\).*\nOK:/);
    assert.equal(runCli(['evidence', 'verify', evidence]).code, 0, 'the whole file verifies');
  });

  it('evaluate: a held-out split by default, or given events and labels; writes the report and the model card', () => {
    const out = join(dir, 'report');
    const r = cli(['evaluate', '--sessions', '400', '--seed', '77', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /session-risk \S+: AUC \d\.\d{4}, AP \d\.\d{4}/);
    assert.match(
      r.stdout,
      /token replay answered within the first 3 attacker actions: [\d.]+% \(goal >= 97%\)/,
    );
    for (const f of [
      'index.html',
      'report.md',
      'roc.svg',
      'pr.svg',
      'scores.svg',
      'metrics.json',
      'decisions.jsonl',
    ])
      assert.ok(readFileSync(join(out, f)).length > 0, f);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    assert.equal((html.match(/<svg /g) ?? []).length, 3);
    assert.match(html, /<h2>Friction for real users<\/h2>/);
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as {
      events: number;
      attacks: { scenario: string; sessions: number }[];
      benign: { sessions: number }[];
      targets: { met: boolean }[];
    };
    assert.equal(m.targets.length, 4);
    assert.ok(m.attacks.some((a) => a.scenario.startsWith('replay_')));
    assert.equal(
      m.attacks.reduce((n, a) => n + a.sessions, 0) + m.benign.reduce((n, b) => n + b.sessions, 0),
      400,
    );

    // The user's own events and labels; the card goes next to the model (a copy of the registry here).
    const models = join(dir, 'models');
    cpSync(join(ROOT, 'models'), models, { recursive: true });
    const own = join(dir, 'report-own');
    const r2 = cli(['evaluate', '--input', events, '--labels', labels, '--out', own, '--write-card'], {
      RISK_STREAM_MODEL_DIR: models,
    });
    assert.equal(r2.code, 0, r2.stderr);
    const card = readFileSync(join(models, 'session-risk', SHIPPED, 'MODEL_CARD.md'), 'utf8');
    assert.ok(card.startsWith(`# Model card: session-risk ${SHIPPED}\n`), card.slice(0, 80));
    assert.match(card, /Known limits/);
    assert.equal(
      (JSON.parse(readFileSync(join(own, 'metrics.json'), 'utf8')) as { events: number }).events,
      validLines,
    );
  });

  it('simulate --sim-config: the mix, seed and span come from the file; a flag given overrides it', () => {
    const config = join(dir, 'sim.json');
    writeFileSync(
      config,
      JSON.stringify({
        sessions: 50,
        seed: 9,
        attackRate: 0.5,
        span: '2h',
        mix: { office_worker: 1, replay_foreign: 1 },
      }),
    );
    const out = join(dir, 'sim-events.jsonl');
    const lab = join(dir, 'sim-labels.jsonl');
    const r = cli(['simulate', '--sim-config', config, '--sessions', '30', '--out', out, '--labels', lab]);
    assert.equal(r.code, 0, r.stderr);
    const rows = readJsonl(lab) as { session_id: string; scenario: string }[];
    assert.equal(new Set(rows.map((l) => l.session_id)).size, 30);
    assert.deepEqual([...new Set(rows.map((l) => l.scenario))].sort(), ['office_worker', 'replay_foreign']);
    const bad = cli(['simulate', '--sim-config', join(dir, 'missing.json'), '--out', out]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /simulation file .*missing\.json: ENOENT/);
  });

  it('features: the engine feature rows of labelled events as CSV, header naming the model inputs in order', () => {
    const csv = join(dir, 'features.csv');
    const r = cli(['features', '--input', events, '--labels', labels, '-o', csv]);
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
    assert.match(lines[0]!, /^# risk-stream features v\d+, \d+ features$/);
    const header = lines[1]!.split(',');
    const model = JSON.parse(
      readFileSync(join(ROOT, 'models/session-risk', SHIPPED, 'manifest.json'), 'utf8'),
    ) as {
      features: string[];
    };
    assert.deepEqual(header, ['event_id', 'session_id', 'scenario', 'label', ...model.features]);
    assert.equal(lines.length - 2, validLines);
    const labelled = new Map(
      (readJsonl(labels) as { event_id: string; label: number }[]).map((l) => [l.event_id, l.label]),
    );
    for (const line of lines.slice(2, 200)) {
      const cells = line.split(',');
      assert.equal(cells.length, header.length);
      assert.equal(Number(cells[3]), labelled.get(cells[0]!));
      assert.ok(cells.slice(4).every((c) => Number.isFinite(Number(c))));
    }
  });

  it('a bad setting fails start-up naming the setting', () => {
    const r = cli(['demo', '--duration', '1s'], { RISK_STREAM_REDIS_IDLE_TTL: 'soon' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /redis\.idleTtl.*RISK_STREAM_REDIS_IDLE_TTL/);
  });
});
