import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RunningEngine } from '../../src/cli/run';
import type { Settings } from '../../src/config/schema';
import type { DeadLetter, Decision, SessionAction } from '../../src/contract';
import { decodeDeadLetter, encodeAction } from '../../src/emit/encode';
import { activeVersion, defaultModelsDir, setActive, setShadow } from '../../src/model/registry';
import { simulate } from '../../src/sim/generate';
import { sessionKeys } from '../../src/state/keys';
import { startTestEngine } from '../helpers/engine';
import { Sandbox } from '../helpers/sandbox';
import {
  collect,
  createTopics,
  deleteTopics,
  freePort,
  sleep,
  uniqueName,
  waitUntil,
} from '../helpers/services';

/** Records no engine may decide on, each with the dead-letter code it must get. */
function garbage(valid: SessionAction): { value: Buffer | null; code: string }[] {
  const out: { value: Buffer | null; code: string }[] = [];
  for (let i = 0; i < 40; i++)
    out.push({
      value: Buffer.concat([Buffer.from([2 + (i % 200)]), randomBytes(20 + i)]),
      code: 'UNDECODABLE',
    });
  const good = encodeAction(valid, 'avro');
  for (let i = 0; i < 20; i++) out.push({ value: good.subarray(0, 5 + i * 3), code: 'UNDECODABLE' });
  const longUa = { ...valid, client: { ...valid.client, user_agent: 'A'.repeat(600_000) } };
  out.push({ value: encodeAction(longUa, 'avro'), code: 'OVERSIZED' });
  const uaOverLimit = { ...valid, client: { ...valid.client, user_agent: 'B'.repeat(5000) } };
  out.push({ value: encodeAction(uaOverLimit, 'avro'), code: 'OVERSIZED' });
  const future = { ...valid, ts: Date.UTC(3000, 0, 1) };
  out.push({ value: encodeAction(future, 'avro'), code: 'TS_OUT_OF_RANGE' });
  const unknownId = Buffer.concat([Buffer.from([0, 0, 0, 0x7f, 0x7f]), good]);
  out.push({ value: unknownId, code: 'UNKNOWN_SCHEMA_ID' });
  out.push({ value: null, code: 'EMPTY' });
  const badLat = { ...valid, client: { ...valid.client, lat: 123.4 } };
  out.push({ value: encodeAction(badLat, 'avro'), code: 'INVALID_VALUE' });
  return out;
}

/** A counter's value over all its labels. */
async function total(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0);
}

/** A model registry in a temp folder: the shipped active model copied under each version. */
function tempRegistry(name: string, versions: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-models-'));
  const shipped = path.join(defaultModelsDir(), name, activeVersion(defaultModelsDir(), name));
  for (const version of versions) {
    const to = path.join(dir, name, version);
    fs.cpSync(shipped, to, { recursive: true });
    const manifest = JSON.parse(fs.readFileSync(path.join(to, 'manifest.json'), 'utf8')) as object;
    fs.writeFileSync(path.join(to, 'manifest.json'), JSON.stringify({ ...manifest, version }));
  }
  return dir;
}

describe('engine on a real Kafka broker and a real Redis', function () {
  this.timeout(240_000);
  const sb = new Sandbox('engine', { topics: ['actionsTopic', 'decisionsTopic', 'deadLetterTopic'] });
  const topics = sb.topics;
  let settings: Settings;
  let engine: RunningEngine | undefined;

  before(async () => {
    await sb.setUp();
    settings = sb.settings({ kafka: { emitAllow: true }, http: { enabled: false } });
  });

  after(async () => {
    await engine?.stop().catch(() => undefined);
    await sb.tearDown();
  });

  /** `group` has committed every partition of `topic` up to its end. */
  async function assertCommittedToEnd(group: string, topic: string) {
    for (const p of await sb.offsets(group, topic))
      assert.equal(p.committed, p.end, `partition ${p.partition}`);
  }

  /**
   * One test's own topics, consumer group and Redis key prefix, settings for an engine on them
   * (`extra` adds to the kafka, redis and model sections), and a producer of its actions.
   */
  async function isolated(
    tag: string,
    partitions: number,
    extra: {
      kafka?: Partial<Settings['kafka']>;
      redis?: Partial<Settings['redis']>;
      model?: Partial<Settings['model']>;
    } = {},
  ) {
    const t = {
      actionsTopic: uniqueName(`actions-${tag}`),
      decisionsTopic: uniqueName(`decisions-${tag}`),
      deadLetterTopic: uniqueName(`dlq-${tag}`),
      shadowTopic: uniqueName(`shadow-${tag}`),
    };
    await createTopics(sb.admin, [t.actionsTopic, t.decisionsTopic, t.deadLetterTopic], partitions);
    const own: Settings = {
      ...settings,
      kafka: { ...settings.kafka, groupId: uniqueName(`engine-${tag}`), ...t, ...extra.kafka },
      redis: { ...settings.redis, keyPrefix: `${sb.prefix}${tag}:`, ...extra.redis },
      model: { ...settings.model, ...extra.model },
    };
    const engines: RunningEngine[] = [];
    const send = (part: readonly SessionAction[]) => sb.send(t.actionsTopic, part);
    /** Simulated actions of the last day. */
    const traffic = (seed: number, sessions: number, attackRate = 0.1) =>
      simulate({ seed, sessions, attackRate, start: Date.now() - 86_400_000, spanMs: 3_600_000 }).events;
    /** The decisions on the topic once there are `until` of them (or `until` holds). */
    const decided = (until: number | ((ds: Decision[]) => boolean), timeoutMs = 60_000) =>
      sb.decisions(t.decisionsTopic, until, timeoutMs);
    /** An engine on these settings, stopped by close(). */
    const start = async () => {
      const eng = await startTestEngine(own);
      engines.push(eng);
      return eng;
    };
    return {
      t,
      settings: own,
      send,
      traffic,
      decided,
      start,
      /**
       * An engine on simulated traffic that has decided the first `half` of it: the test changes
       * something under it, then sends the rest.
       */
      halfway: async (seed: number, sessions: number) => {
        const events = traffic(seed, sessions);
        const half = Math.floor(events.length / 2);
        const eng = await start();
        await send(events.slice(0, half));
        await decided(half);
        return { eng, events, half };
      },
      /** Stops the engines started here and deletes the topics. */
      close: async () => {
        const stopped = await Promise.allSettled(engines.map((e) => e.stop()));
        await deleteTopics(sb.admin, Object.values(t));
        for (const s of stopped) if (s.status === 'rejected') throw s.reason;
      },
    };
  }

  it('decides every valid action exactly once, dead-letters garbage, commits, and does not decide twice after a restart', async () => {
    const { events, labels } = simulate({
      seed: 11,
      sessions: 700,
      attackRate: 0.15,
      start: Date.now() - 2 * 86_400_000,
      spanMs: 3_600_000,
    });
    const bad = garbage(events[0]!);
    // Garbage interleaved with the valid traffic, every record keyed by session.
    const messages = events.map((e) => ({
      key: e.session_id,
      value: encodeAction(e, 'avro') as Buffer | null,
    }));
    bad.forEach((g, i) =>
      messages.splice(Math.floor((i * messages.length) / bad.length), 0, {
        key: `garbage-${i}`,
        value: g.value,
      }),
    );
    for (let i = 0; i < messages.length; i += 2000) {
      await (await sb.producer()).send({ topic: topics.actionsTopic, messages: messages.slice(i, i + 2000) });
    }

    const started = Date.now();
    engine = await startTestEngine(settings);
    const decisions = await sb.decisions(topics.decisionsTopic, events.length, 120_000);
    const seconds = (Date.now() - started) / 1000;
    const deadLetters = await collect<DeadLetter>(
      sb.kafka,
      topics.deadLetterTopic,
      decodeDeadLetter,
      (d) => d.length >= bad.length,
      30_000,
    );
    console.log(
      `      ${events.length} actions + ${bad.length} bad records decided in ${seconds.toFixed(1)}s`,
    );

    // Exactly one decision per valid event, and events in = decisions + dead letters.
    assert.equal(decisions.length, events.length);
    assert.equal(new Set(decisions.map((d) => d.event_id)).size, events.length);
    assert.deepEqual(new Set(decisions.map((d) => d.event_id)), new Set(events.map((e) => e.event_id)));
    assert.equal(deadLetters.length, bad.length);
    assert.equal(decisions.length + deadLetters.length, messages.length);

    // Each bad record got the right reason and kept its original bytes.
    const expectedCodes = bad.map((b) => b.code).sort();
    assert.deepEqual(deadLetters.map((d) => d.reason_code).sort(), expectedCodes);
    for (const dl of deadLetters) {
      assert.ok(dl.reason.length > 0);
      assert.equal(dl.source, topics.actionsTopic);
      assert.ok(dl.offset !== null && dl.partition !== null);
    }
    const originals = new Set(bad.filter((b) => b.value).map((b) => b.value!.toString('base64')));
    for (const dl of deadLetters.filter((d) => d.reason_code !== 'EMPTY'))
      assert.ok(originals.has(dl.payload.toString('base64')));

    // Replayed sessions are answered with friction on the attacker's actions.
    const byEvent = new Map(decisions.map((d) => [d.event_id, d]));
    const attackSessions = new Map<string, boolean>();
    labels.forEach((l) => {
      if (l.label !== 1 || !l.scenario.startsWith('replay')) return;
      const hit = byEvent.get(l.event_id)!.decision !== 'ALLOW';
      attackSessions.set(l.session_id, (attackSessions.get(l.session_id) ?? false) || hit);
    });
    const caught = [...attackSessions.values()].filter(Boolean).length;
    console.log(
      `      token-replay sessions answered with STEP_UP/BLOCK/TERMINATE: ${caught}/${attackSessions.size}`,
    );
    assert.ok(attackSessions.size > 20);
    assert.ok(caught / attackSessions.size >= 0.9, `${caught}/${attackSessions.size}`);

    // Offsets are committed up to the end of every partition.
    await sleep(500);
    await assertCommittedToEnd(settings.kafka.groupId, topics.actionsTopic);

    // A restarted engine in the same group finds nothing to redo.
    await engine.stop();
    engine = await startTestEngine(settings);
    await sleep(6000);
    const after = await sb.decisions(topics.decisionsTopic, () => false, 5000);
    assert.equal(after.length, events.length);
    await engine.stop();
    engine = undefined;

    // Redelivery of everything (a new group from the start, same Redis state) yields the same
    // decision ids and the same decisions, and changes no window: exactly-once effect.
    const windowsBefore = await sb.redis.mgetBuffer(
      ...[...new Set(events.map((e) => e.session_id))].map((s) => sessionKeys(sb.prefix, s).win),
    );
    const replaySettings = { ...settings, kafka: { ...settings.kafka, groupId: uniqueName('redeliver') } };
    engine = await startTestEngine(replaySettings);
    const again = await sb.decisions(topics.decisionsTopic, 2 * events.length, 120_000);
    assert.equal(again.length, 2 * events.length);
    for (const d of again) {
      const first = byEvent.get(d.event_id)!;
      assert.equal(d.decision_id, first.decision_id);
      assert.equal(d.decision, first.decision);
      assert.equal(d.score, first.score);
    }
    const windowsAfter = await sb.redis.mgetBuffer(
      ...[...new Set(events.map((e) => e.session_id))].map((s) => sessionKeys(sb.prefix, s).win),
    );
    // (sessions that ended with a logout have no keys left)
    assert.ok(windowsBefore.filter((w) => w !== null).length >= 100, 'windows to compare');
    assert.deepEqual(windowsAfter, windowsBefore);
  });

  it('two engines in one group share the work through rebalances: every action decided, copies identical, offsets committed', async () => {
    const rb = await isolated('rb', 6, { kafka: { sessionTimeout: 10_000 } });
    const events = rb.traffic(12, 300);
    const chunks = 10;
    const size = Math.ceil(events.length / chunks);
    try {
      const first = await rb.start();
      for (let i = 0; i < chunks; i++) {
        await rb.send(events.slice(i * size, (i + 1) * size));
        // A second engine joins (the group rebalances), later the first one leaves (again).
        if (i === 2) await rb.start();
        if (i === 6) await first.stop();
        await sleep(300);
      }
      const decisions = await rb.decided(
        (d) => new Set(d.map((x) => x.event_id)).size >= events.length,
        120_000,
      );
      const byEvent = new Map<string, Decision>();
      for (const d of decisions) {
        const first = byEvent.get(d.event_id);
        if (!first) byEvent.set(d.event_id, d);
        else {
          assert.equal(d.decision_id, first.decision_id);
          assert.equal(d.decision, first.decision);
          assert.equal(d.score, first.score);
        }
      }
      assert.equal(byEvent.size, events.length);
      console.log(
        `      ${events.length} actions, ${decisions.length - events.length} decided again across two rebalances (identical copies)`,
      );
      await sleep(1000);
      await assertCommittedToEnd(rb.settings.kafka.groupId, rb.t.actionsTopic);
    } finally {
      await rb.close();
    }
  });

  it('after a rebalance each engine reports consumer lag only for the partitions it holds', async () => {
    const rb = await isolated('lag', 4, { kafka: { sessionTimeout: 10_000 } });
    const events = rb.traffic(13, 160);
    const half = Math.floor(events.length / 2);
    /** The partitions an engine reports a lag for. */
    const lagged = async (eng: RunningEngine) =>
      (await eng.metrics.consumerLag.get()).values
        .filter((v) => v.labels.topic === rb.t.actionsTopic)
        .map((v) => String(v.labels.partition))
        .sort();
    try {
      const first = await rb.start();
      await rb.send(events.slice(0, half));
      await rb.decided(half);
      assert.ok(
        await waitUntil(async () => (await lagged(first)).length === 4),
        'the only engine reports every partition',
      );
      const second = await rb.start();
      const rest = events.slice(half);
      for (let i = 0; i < 8; i++) {
        await rb.send(rest.slice((i * rest.length) / 8, ((i + 1) * rest.length) / 8));
        await sleep(500);
      }
      await rb.decided((d) => new Set(d.map((x) => x.event_id)).size >= events.length, 60_000);
      let seen: string[][] = [];
      const split = await waitUntil(async () => {
        seen = [await lagged(first), await lagged(second)];
        const [a, b] = seen as [string[], string[]];
        return a.length > 0 && b.length > 0 && a.length + b.length === 4 && a.every((p) => !b.includes(p));
      });
      assert.ok(split, `lag series after the rebalance: first ${seen[0]}, second ${seen[1]}`);
    } finally {
      await rb.close();
    }
  });

  it('picks up a promoted model without a restart: each event scored once, by the model active when its batch began', async () => {
    const name = settings.model.name;
    const dir = tempRegistry(name, ['1.0.0', '1.1.0']);
    setActive(dir, name, '1.0.0');
    const m = await isolated('m', 3, { model: { dir, watchInterval: 200 } });
    try {
      const { eng, events, half } = await m.halfway(13, 60);
      setActive(dir, name, '1.1.0');
      for (let i = 0; i < 100 && (await total(eng.metrics.modelSwaps)) < 1; i++) await sleep(50);
      assert.equal(await total(eng.metrics.modelSwaps), 1);
      await m.send(events.slice(half));
      const decisions = await m.decided(events.length);
      assert.equal(decisions.length, events.length);
      const byEvent = new Map(decisions.map((d) => [d.event_id, d]));
      assert.equal(byEvent.size, events.length);
      events.forEach((e, i) => {
        const d = byEvent.get(e.event_id)!;
        // A session terminated earlier is not rescored: its decisions name the terminating model.
        if (d.policy_rule !== 'friction.terminated')
          assert.equal(d.model_version, i < half ? '1.0.0' : '1.1.0', e.event_id);
      });

      // The admin route re-reads the pointer at once (the watcher may have got there first).
      setActive(dir, name, '1.0.0');
      const res = await eng.server.inject({ method: 'POST', url: '/admin/model/reload' });
      assert.equal(res.statusCode, 200);
      assert.equal((res.json() as { version: string }).version, '1.0.0');
      // A pointer to a version that is not there: refused, the engine keeps its model.
      fs.writeFileSync(path.join(dir, name, 'ACTIVE'), '9.9.9\n');
      const bad = await eng.server.inject({ method: 'POST', url: '/admin/model/reload' });
      assert.equal(bad.statusCode, 409);
      assert.match((bad.json() as { error: string }).error, /9\.9\.9/);
      assert.ok((await total(eng.metrics.modelReloadErrors)) >= 1);
    } finally {
      await m.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scores with a shadow model alongside: its decisions go to the shadow topic and metrics, never to enforcement', async () => {
    const name = settings.model.name;
    const dir = tempRegistry(name, ['1.0.0', '2.0.0-rc1']);
    setActive(dir, name, '1.0.0');
    setShadow(dir, name, '2.0.0-rc1');
    const sh = await isolated('s', 3, { model: { dir, watchInterval: 200 } });
    const events = sh.traffic(14, 40, 0.2);
    try {
      const eng = await sh.start();
      await sh.send(events);
      const decisions = await sh.decided(events.length);
      const shadow = await sb.decisions(sh.t.shadowTopic, events.length, 30_000);
      assert.equal(decisions.length, events.length);
      assert.equal(shadow.length, events.length);
      assert.ok(decisions.every((d) => d.model_version === '1.0.0'));
      assert.ok(shadow.every((d) => d.model_version === '2.0.0-rc1'));
      // Same weights here, so the shadow agrees on every event; the ids line up with the real decisions.
      const real = new Map(decisions.map((d) => [d.event_id, d]));
      for (const sd of shadow) {
        assert.equal(sd.decision_id, real.get(sd.event_id)!.decision_id);
        assert.equal(sd.decision, real.get(sd.event_id)!.decision);
        assert.equal(sd.score, real.get(sd.event_id)!.score);
      }
      const counted = await total(eng.metrics.shadowDecisions);
      assert.equal(counted, events.length);
      assert.deepEqual(
        (await eng.metrics.shadowModelInfo.get()).values.map((v) => v.labels.version),
        ['2.0.0-rc1'],
      );

      // Shadowing stops when SHADOW is emptied (the watcher picks it up).
      setShadow(dir, name, null);
      for (let i = 0; i < 100 && (await eng.metrics.shadowModelInfo.get()).values.length > 0; i++)
        await sleep(50);
      assert.equal((await eng.metrics.shadowModelInfo.get()).values.length, 0);
    } finally {
      await sh.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retries a batch in place while Redis is down: nothing skipped, nothing committed past it', async () => {
    const port = await freePort();
    const startRedis = async () => {
      const proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
      const probe = new Redis({
        port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined); // refused until the server listens
      for (let i = 0; i < 50; i++) {
        if (
          await probe.ping().then(
            () => true,
            () => false,
          )
        )
          break;
        await sleep(100);
      }
      probe.disconnect();
      return proc;
    };
    let redisProc = await startRedis();
    const f = await isolated('f', 3, { redis: { url: `redis://127.0.0.1:${port}` } });
    const group = f.settings.kafka.groupId;
    try {
      const { eng, events, half } = await f.halfway(15, 80);
      // Redis goes away; the second half arrives meanwhile.
      redisProc.kill('SIGKILL');
      await f.send(events.slice(half));
      for (let i = 0; i < 100 && (await total(eng.metrics.redisErrors)) === 0; i++) await sleep(100);
      assert.ok((await total(eng.metrics.redisErrors)) > 0, 'the failing batch was seen');
      const behind = (await sb.offsets(group, f.t.actionsTopic)).some((p) => p.committed !== p.end);
      assert.ok(behind, 'offsets are not committed past the failing batch');

      redisProc = await startRedis();
      const decisions = await f.decided(
        (d) => new Set(d.map((x) => x.event_id)).size >= events.length,
        90_000,
      );
      assert.equal(new Set(decisions.map((d) => d.event_id)).size, events.length);
      await sleep(1000);
      await assertCommittedToEnd(group, f.t.actionsTopic);
    } finally {
      await f.close();
      redisProc.kill('SIGKILL');
    }
  });
});
