import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvidenceRecord, SessionAction } from '../../src/contract';
import { readAuditTopic, selectEvidence } from '../../src/evidence/export';
import { canonicalJson } from '../../src/evidence/record';
import { verifyEvidence } from '../../src/evidence/verify';
import { decisionId } from '../../src/pipeline/process';
import { Rng } from '../../src/sim/rng';
import { decodeState } from '../../src/state/window';
import { runCli } from '../helpers/cli';
import { startChildEngine, type ChildEngine } from '../helpers/engine';
import { Sandbox } from '../helpers/sandbox';
import { sleep, waitUntil } from '../helpers/services';
import { readSessionStates, type SessionState } from './session-state';
import { DecisionTally, decisionContent } from './tally';

/**
 * Crash and restart: the engine (`risk-stream run`, the compiled CLI) is killed with SIGKILL at
 * random points while a labelled workload streams in, and restarted each time in the same consumer
 * group, until every event is decided. A fault-free run of the same input on fresh topics, group and
 * Redis prefix is the reference. Exactly-once effect means: after deduping by decision_id, every
 * event has exactly one decision and it is the reference's; the session windows, the policy state
 * and the evidence chains end up as the reference's.
 *
 * RISK_STREAM_FAULT_SEED picks the kill plan (the points are reproducible; where a kill lands inside
 * a batch depends on timing).
 */

const SEED = process.env.RISK_STREAM_FAULT_SEED ?? '6';
/** Simulated sessions: about 33 events each. */
const SESSIONS = 600;
/** Kills at points spread over the workload (by decisions seen), each in its own slice. */
const KILL_POINTS = 10;
/** Before a kill point, the chance of one more kill soon after the restart (mid-redelivery). */
const EARLY_KILL_CHANCE = 0.35;
/** The workload is produced in chunks of this many events (a produce request stays < 1 MB a partition)... */
const CHUNK = 500;
/** ...over about this long, while the engine is being killed. */
const PRODUCE_MS = 45_000;

describe('faults: engine killed with SIGKILL and restarted, exactly-once effect', function () {
  this.timeout(420_000);
  const topics = ['actionsTopic', 'decisionsTopic', 'deadLetterTopic', 'auditTopic', 'shadowTopic'] as const;
  const engineCreates = ['auditTopic', 'shadowTopic'] as const;
  const killed = new Sandbox('kill', { topics, engineCreates });
  const clean = new Sandbox('kill-ref', { topics, engineCreates });
  // One environment (hence one consumer group) per sandbox, for every restart. A group with nothing
  // committed yet (a kill before the first commit) must still start from the beginning.
  const settings = {
    RISK_STREAM_KAFKA_EMIT_ALLOW: 'true',
    RISK_STREAM_KAFKA_FROM_BEGINNING: 'true',
    // The broker's minimum: a killed member holds its partitions until its session times out.
    RISK_STREAM_KAFKA_SESSION_TIMEOUT: '6s',
    RISK_STREAM_LOG_LEVEL: 'warn',
  };
  const killedEnv = killed.env(settings);
  const cleanEnv = clean.env(settings);
  const dir = mkdtempSync(join(tmpdir(), 'risk-stream-kill-'));
  const engines: ChildEngine[] = [];
  const tallies: DecisionTally[] = [];
  let events: SessionAction[];

  const start = async (env: NodeJS.ProcessEnv) => {
    const engine = await startChildEngine({ env, startTimeoutMs: 90_000 });
    engines.push(engine);
    return engine;
  };
  const follow = async (sb: Sandbox<(typeof topics)[number]>) => {
    const tally = new DecisionTally(sb.kafka, sb.topics.decisionsTopic);
    tallies.push(tally);
    await tally.start();
    return tally;
  };
  const chunks = () =>
    Array.from({ length: Math.ceil(events.length / CHUNK) }, (_, i) =>
      events.slice(i * CHUNK, (i + 1) * CHUNK),
    );

  before(async () => {
    // One after the other, and again on a failure: a busy broker may answer the metadata request
    // that waits for new topics' leaders with UNKNOWN_TOPIC_OR_PARTITION.
    for (const sb of [killed, clean]) {
      for (let attempt = 1; ; attempt++) {
        try {
          await sb.setUp();
          break;
        } catch (err) {
          if (attempt === 3) throw err;
          await sleep(1000);
        }
      }
    }
    const out = join(dir, 'events.jsonl');
    const sim = runCli(
      [
        'simulate',
        '--sessions',
        String(SESSIONS),
        '--seed',
        '11',
        '-o',
        out,
        '--labels',
        join(dir, 'labels.jsonl'),
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(sim.code, 0, sim.stderr);
    events = readFileSync(out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SessionAction);
  });

  after(async () => {
    for (const e of engines) e.kill();
    await Promise.all(engines.map((e) => e.exited));
    await Promise.all(tallies.map((t) => t.stop().catch(() => undefined)));
    await Promise.all([killed.tearDown(), clean.tearDown()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no decision, changes none, and leaves windows and evidence chains as a fault-free run', async () => {
    const t0 = Date.now();
    const n = events.length;
    const inputIds = new Set(events.map((e) => e.event_id));
    assert.equal(inputIds.size, n, 'event ids are unique');

    // --- the run with kills ---------------------------------------------------------------------
    const rng = new Rng(`kill-test:${SEED}`);
    const points = Array.from({ length: KILL_POINTS }, (_, i) =>
      Math.floor((n * (i + rng.float(0.1, 0.9))) / KILL_POINTS),
    );
    const tally = await follow(killed);
    let engine = await start(killedEnv);
    const producing = (async () => {
      const all = chunks();
      for (const chunk of all) {
        await killed.send(killed.topics.actionsTopic, chunk);
        await sleep(PRODUCE_MS / all.length);
      }
    })();
    producing.catch(() => undefined); // awaited below
    let kills = 0;
    let earlyKills = 0;
    const killAndRestart = async () => {
      assert.ok(engine.running(), `the engine exited by itself:\n${engine.output}`);
      engine.child.kill('SIGKILL');
      assert.equal(await engine.exited, null, 'killed by the signal');
      kills++;
      engine = await start(killedEnv);
    };
    for (const point of points) {
      if (rng.chance(EARLY_KILL_CHANCE)) {
        // Soon after the restart: while redelivered records are being decided again, perhaps
        // before anything was committed.
        await sleep(rng.int(0, 1500));
        earlyKills++;
        await killAndRestart();
      }
      const reached = await waitUntil(() => tally.distinct >= point, {
        timeoutMs: 120_000,
        intervalMs: 10,
        giveUpIf: () => !engine.running(),
      });
      assert.ok(reached, `${tally.distinct} of ${n} decided, waiting for ${point}:\n${engine.output}`);
      await killAndRestart();
    }
    await producing;
    const done = await waitUntil(() => tally.distinct >= n, {
      timeoutMs: 120_000,
      giveUpIf: () => !engine.running(),
    });
    assert.ok(done, `${tally.distinct} of ${n} decided after the last restart:\n${engine.output}`);
    assert.equal(await engine.stop(), 0, engine.stderr);
    assert.ok(await tally.drain(), 'read the decisions topic to its end');
    const faultsMs = Date.now() - t0;
    // Everything the last engine decided is committed.
    for (const p of await killed.offsets(killedEnv.RISK_STREAM_KAFKA_GROUP_ID!, killed.topics.actionsTopic))
      assert.equal(p.committed, p.end, `partition ${p.partition} committed to its end`);

    // --- the fault-free reference -----------------------------------------------------------------
    const reference = await follow(clean);
    const refEngine = await start(cleanEnv);
    for (const chunk of chunks()) await clean.send(clean.topics.actionsTopic, chunk);
    assert.ok(
      await waitUntil(() => reference.distinct >= n, {
        timeoutMs: 120_000,
        giveUpIf: () => !refEngine.running(),
      }),
      `reference: ${reference.distinct} of ${n} decided:\n${refEngine.output}`,
    );
    assert.equal(await refEngine.stop(), 0, refEngine.stderr);
    assert.ok(await reference.drain(), 'read the reference decisions to their end');
    assert.equal(reference.distinct, n, 'the reference decided every event');

    // --- (a) exactly one decision per event, none missing ----------------------------------------
    const byEvent = (t: DecisionTally) => new Map([...t.decisions.values()].map((d) => [d.event_id, d]));
    const got = byEvent(tally);
    const want = byEvent(reference);
    const lost = [...inputIds].filter((id) => !got.has(id));
    const unknown = [...got.keys()].filter((id) => !inputIds.has(id));
    const badIds = [...tally.decisions.values()].filter((d) => d.decision_id !== decisionId(d.event_id));

    // --- (b) the same decision as the reference -------------------------------------------------
    // Everything a decision says but decided_at (the wall clock of the run): decision, score,
    // policy_rule, reasons (codes, details and weights), model and policy versions, and the event's
    // fields. All of it is a function of the event and its session's history, so a redelivered
    // event must repeat it; a copy written twice by the killed run must repeat it too (conflicts).
    const changed = [...want.values()].filter((d) => {
      const mine = got.get(d.event_id);
      return mine !== undefined && decisionContent(mine) !== decisionContent(d);
    });

    // --- (c) the session windows and policy states in Redis ---------------------------------------
    const sessionIds = [...new Set(events.map((e) => e.session_id))];
    const [mineStates, refStates] = await Promise.all([
      readSessionStates(killed.redis, killed.prefix, sessionIds),
      readSessionStates(clean.redis, clean.prefix, sessionIds),
    ]);
    const winDiffers = (a: SessionState, b: SessionState) =>
      a.win === null || b.win === null ? a.win !== b.win : !a.win.equals(b.win);
    const windowDiffs = sessionIds.filter((id) => winDiffers(mineStates.get(id)!, refStates.get(id)!));
    const policyDiffs = sessionIds.filter((id) => mineStates.get(id)!.policy !== refStates.get(id)!.policy);
    const windows = sessionIds.filter((id) => refStates.get(id)!.win !== null).length;

    // --- (d) evidence chains ----------------------------------------------------------------------
    const [mineAudit, refAudit] = await Promise.all([
      readAuditTopic(killed.kafka, killed.topics.auditTopic),
      readAuditTopic(clean.kafka, clean.topics.auditTopic),
    ]);
    const mineEvidence = selectEvidence(mineAudit.records, {});
    const refEvidence = selectEvidence(refAudit.records, {});
    const report = verifyEvidence(mineEvidence.map((r) => JSON.stringify(r)));
    // A record's place (evidence_id, seq) and what it says apart from decided_at and the hashes
    // that seal it.
    const place = (r: EvidenceRecord) => {
      const { decided_at: _d, hash: _h, prev_hash: _p, ...content } = r;
      return canonicalJson(content);
    };
    const chains = (rs: readonly EvidenceRecord[]) => {
      const m = new Map<string, string[]>();
      for (const r of rs) m.set(r.session_id, [...(m.get(r.session_id) ?? []), place(r)]);
      return m;
    };
    const mineChains = chains(mineEvidence);
    const refChains = chains(refEvidence);
    const evidenceDiffs = [...new Set([...mineChains.keys(), ...refChains.keys()])].filter(
      (id) => canonicalJson(mineChains.get(id) ?? []) !== canonicalJson(refChains.get(id) ?? []),
    );

    const summary = {
      seed: SEED,
      kills: `${kills} (${KILL_POINTS} at points spread over the workload, ${earlyKills} soon after a restart)`,
      events: n,
      'raw decisions on the topic': tally.raw,
      'decisions after dedupe': tally.distinct,
      lost: lost.length,
      changed: changed.length + tally.conflicts.length,
      'duplicates delivered': tally.duplicates,
      'reference decisions (raw)': reference.raw,
      'windows compared': `${sessionIds.length} sessions (${windows} with a window), ${windowDiffs.length} differ`,
      'policy states differing': policyDiffs.length,
      'evidence records': `${mineAudit.records.length} on the audit topic (copies included), ${mineEvidence.length} exported (reference ${refEvidence.length}), ${report.problems.length} chain problems`,
      'evidence sessions differing': evidenceDiffs.length,
      duration: `${((Date.now() - t0) / 1000).toFixed(1)} s (with kills ${(faultsMs / 1000).toFixed(1)} s)`,
    };
    console.log(
      '      kill test summary:\n' +
        Object.entries(summary)
          .map(([k, v]) => `        ${k}: ${v}`)
          .join('\n'),
    );

    assert.ok(kills >= 10, `at least 10 kills (${kills})`);
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} event(s) without a decision`);
    assert.deepEqual(unknown, [], 'decisions for events never sent');
    assert.deepEqual(badIds.slice(0, 5), [], 'decision_id is the name-based UUID of event_id');
    assert.equal(tally.distinct, n, 'one decision per event after dedupe');
    assert.deepEqual(
      tally.conflicts.slice(0, 3).map((c) => [c.first, c.copy]),
      [],
      `${tally.conflicts.length} redelivered decision(s) said something else than the first copy`,
    );
    assert.deepEqual(
      changed.slice(0, 3).map((d) => [got.get(d.event_id), d]),
      [],
      `${changed.length} decision(s) differ from the fault-free run's`,
    );
    assert.deepEqual(
      windowDiffs.slice(0, 3).map((id) => {
        const decode = (s: SessionState) => (s.win ? decodeState(s.win) : null);
        return { session: id, killed: decode(mineStates.get(id)!), reference: decode(refStates.get(id)!) };
      }),
      [],
      `${windowDiffs.length} session window(s) differ from the fault-free run's`,
    );
    assert.deepEqual(
      policyDiffs.slice(0, 3).map((id) => ({
        session: id,
        killed: mineStates.get(id)!.policy,
        reference: refStates.get(id)!.policy,
      })),
      [],
      `${policyDiffs.length} policy state(s) differ from the fault-free run's`,
    );
    assert.equal(mineAudit.unreadable, 0);
    assert.ok(refEvidence.length > 0, 'the workload has evidence records');
    assert.deepEqual(
      report.problems.slice(0, 5),
      [],
      `evidence chains of the killed run: ${report.problems.length} problem(s)`,
    );
    assert.deepEqual(
      evidenceDiffs
        .slice(0, 2)
        .map((id) => ({ session: id, killed: mineChains.get(id), reference: refChains.get(id) })),
      [],
      `${evidenceDiffs.length} session(s) whose exported chain differs from the fault-free run's`,
    );
  });
});
