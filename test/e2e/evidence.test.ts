import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision, EvidenceRecord, SessionAction } from '../../src/contract';
import { runCli } from '../helpers/cli';
import { startChildEngine } from '../helpers/engine';
import { Sandbox } from '../helpers/sandbox';

/**
 * The evidence trail end to end: `run` on real Kafka and Redis writes hash-chained evidence records
 * to the audit topic; `evidence export` reads them back per session / user / time range and
 * `evidence verify` accepts the export, and names the lines of a tampered copy. A restart continues
 * a session's chain where it stopped (the head is kept in Redis).
 */
describe('risk-stream evidence export / verify (CLI) on real Kafka and Redis', function () {
  this.timeout(240_000);
  const sb = new Sandbox('ev', {
    topics: ['actionsTopic', 'decisionsTopic', 'deadLetterTopic', 'auditTopic'],
    engineCreates: ['auditTopic'],
  });
  // One consumer group for both runs of the engine: the restart goes on where the first run stopped.
  const env = sb.env({ RISK_STREAM_KAFKA_EMIT_ALLOW: 'true', RISK_STREAM_LOG_LEVEL: 'warn' });
  const dir = mkdtempSync(join(tmpdir(), 'risk-stream-evidence-'));
  let events: SessionAction[];
  let decisions: Decision[];
  let victim: { session: string; user: string; terminate: Decision };

  const cli = (args: string[]) => runCli(args, { env, timeoutMs: 120_000 });
  const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const records = (file: string) => lines(file).map((l) => JSON.parse(l) as EvidenceRecord);

  /** Runs the engine while `work` runs, then stops it with SIGTERM (exit 0). */
  async function withEngine<T>(work: (url: string) => Promise<T>): Promise<T> {
    const engine = await startChildEngine({ env });
    try {
      const out = await work(engine.url);
      assert.equal(await engine.stop(), 0, engine.stderr);
      return out;
    } finally {
      engine.kill();
    }
  }

  before(async () => {
    await sb.setUp();
    // Labelled traffic from the simulator: benign sessions and token replays.
    const sim = cli(['simulate', '--sessions', '60', '--seed', '5', '-o', join(dir, 'events.jsonl')]);
    assert.equal(sim.code, 0, sim.stderr);
    events = lines(join(dir, 'events.jsonl')).map((l) => JSON.parse(l) as SessionAction);
    decisions = await withEngine(async () => {
      await sb.send(sb.topics.actionsTopic, events);
      return sb.decisions(sb.topics.decisionsTopic, events.length);
    });
    assert.equal(decisions.length, events.length);
    const terminate = decisions.find((d) => d.decision === 'TERMINATE');
    assert.ok(terminate, 'the simulated traffic has a token replay the engine terminates');
    victim = { session: terminate.session_id, user: terminate.user_id, terminate };
  });

  after(async () => {
    await sb.tearDown();
    rmSync(dir, { recursive: true, force: true });
  });

  it("exports a terminated session's chain, which verifies and holds every non-ALLOW decision of it", () => {
    const file = join(dir, 'victim.jsonl');
    const out = cli(['evidence', 'export', '--session', victim.session, '-o', file]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /evidence export: \d+ record\(s\) of 1 session\(s\) in 1 chain\(s\)/);
    const exported = records(file);
    assert.deepEqual(
      exported.map((r) => r.seq),
      exported.map((_, i) => i + 1),
      'one chain, in order from seq 1',
    );
    assert.ok(exported.every((r) => r.session_id === victim.session && r.user_id === victim.user));

    // Every non-ALLOW decision of the session on the decisions topic has its record, and each
    // record says what the decision said.
    const byDecision = new Map(exported.map((r) => [r.decision_id, r]));
    const nonAllow = decisions.filter((d) => d.session_id === victim.session && d.decision !== 'ALLOW');
    assert.ok(nonAllow.length > 0);
    for (const d of nonAllow) {
      const r = byDecision.get(d.decision_id);
      assert.ok(r, `decision ${d.decision_id} (${d.decision}) has an evidence record`);
      assert.equal(r.decision, d.decision);
      assert.equal(r.event_id, d.event_id);
      assert.equal(r.score, d.score);
      assert.equal(r.model_version, d.model_version);
      assert.deepEqual(
        r.reasons.map((x) => x.code),
        d.reasons.map((x) => x.code),
      );
    }
    // The record of the TERMINATE holds the action as received and what changed in the client.
    const t = byDecision.get(victim.terminate.decision_id)!;
    const action = events.find((e) => e.event_id === victim.terminate.event_id)!;
    assert.deepEqual(t.action.client, action.client);
    assert.ok(t.features && Object.keys(t.features).length > 10, 'the model inputs by name');
    assert.ok(t.policy_rule.length > 0 && t.policy_version.length > 0);

    const verified = cli(['evidence', 'verify', file]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /OK: every hash matches and every chain is complete from seq 1/);
  });

  it('says which lines of a tampered copy break the chain (exit 5)', () => {
    const file = join(dir, 'victim.jsonl');
    const original = lines(file);
    assert.ok(original.length >= 3, `the chain has at least 3 records (has ${original.length})`);
    const tampered = original.map((l) => JSON.parse(l) as EvidenceRecord);
    // Line 1: the score lowered after sealing. The second record deleted.
    tampered[0]!.score = 0.01;
    const kept = [tampered[0]!, ...tampered.slice(2)];
    const bad = join(dir, 'tampered.jsonl');
    writeFileSync(bad, kept.map((r) => JSON.stringify(r) + '\n').join(''));

    const r = cli(['evidence', 'verify', bad]);
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stdout, /BROKEN: 2 problem\(s\)/);
    assert.match(r.stdout, /line 1, session .*, seq 1: altered/);
    assert.match(r.stdout, /line 2, session .*, seq 3: seq 2 is missing/);

    const json = cli(['evidence', 'verify', bad, '--json']);
    assert.equal(json.code, 5);
    const report = JSON.parse(json.stdout) as { ok: boolean; problems: { line: number }[] };
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.problems.map((p) => p.line),
      [1, 2],
    );
  });

  it('exports by user and by time range; nothing matching exits 4', () => {
    const byUser = join(dir, 'user.jsonl');
    const u = cli(['evidence', 'export', '--user', victim.user, '-o', byUser]);
    assert.equal(u.code, 0, u.stderr);
    const userRecords = records(byUser);
    assert.ok(userRecords.every((r) => r.user_id === victim.user));
    assert.ok(userRecords.some((r) => r.decision_id === victim.terminate.decision_id));
    assert.equal(cli(['evidence', 'verify', byUser]).code, 0);

    // A range around the TERMINATE's decision time selects its chain, whole.
    const at = victim.terminate.decided_at;
    const range = join(dir, 'range.jsonl');
    const t = cli([
      'evidence',
      'export',
      '--since',
      new Date(at).toISOString(),
      '--until',
      String(at + 1),
      '-o',
      range,
    ]);
    assert.equal(t.code, 0, t.stderr);
    const ranged = records(range);
    const victimChain = ranged.filter((r) => r.session_id === victim.session);
    assert.deepEqual(
      victimChain.map((r) => r.seq),
      victimChain.map((_, i) => i + 1),
    );
    assert.equal(cli(['evidence', 'verify', range]).code, 0);

    const none = cli(['evidence', 'export', '--session', 'no-such-session', '-o', join(dir, 'none.jsonl')]);
    assert.equal(none.code, 4, none.stderr);
    assert.match(none.stderr, /0 record\(s\)/);

    const noFilter = cli(['evidence', 'export']);
    assert.equal(noFilter.code, 2, noFilter.stderr);
    assert.match(noFilter.stderr, /give --session, --user, --since or --until/);
  });

  it("continues a session's chain after a restart: the next record links to the last one", async () => {
    const before = records(join(dir, 'victim.jsonl'));
    const last = events.filter((e) => e.session_id === victim.session).at(-1)!;
    // One more action in the terminated session, after the engine restarted.
    const next: SessionAction = { ...last, event_id: `${last.event_id}-after-restart`, ts: last.ts + 1000 };
    const decided = await withEngine(async (url) => {
      // The built engine reads a window back from Redis for the analyst API (a session not logged out).
      const open = [...new Map(events.map((e) => [e.session_id, e])).values()].find(
        (e) => e.action !== 'logout',
      )!;
      const res = await fetch(`${url}/v1/sessions/${encodeURIComponent(open.session_id)}`);
      assert.equal(res.status, 200, await res.clone().text());
      const view = (await res.json()) as { window: { events: number } | null };
      assert.equal(view.window?.events, events.filter((e) => e.session_id === open.session_id).length);
      await sb.send(sb.topics.actionsTopic, [next]);
      return sb.decisions(sb.topics.decisionsTopic, (ds) => ds.some((x) => x.event_id === next.event_id));
    });
    assert.equal(decided.find((x) => x.event_id === next.event_id)?.decision, 'TERMINATE');
    const file = join(dir, 'victim-after.jsonl');
    assert.equal(cli(['evidence', 'export', '--session', victim.session, '-o', file]).code, 0);
    const after = records(file);
    assert.equal(after.length, before.length + 1);
    const added = after.at(-1)!;
    assert.equal(added.event_id, next.event_id);
    assert.equal(added.seq, before.at(-1)!.seq + 1);
    assert.equal(added.prev_hash, before.at(-1)!.hash);
    assert.equal(added.chain, before[0]!.chain);
    assert.equal(cli(['evidence', 'verify', file]).code, 0);
  });
});
