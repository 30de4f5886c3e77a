import assert from 'node:assert/strict';
import { buildMemoryStore, buildModel, buildPipeline } from '../../../src/cli/context';
import { loadSettings } from '../../../src/config/load';
import type { Decision, RawRecord } from '../../../src/contract';
import { silentLogger } from '../../../src/log';
import { lineRecord } from '../../helpers/fixtures';
import { createMetrics } from '../../../src/metrics/metrics';
import { createBatchHandler } from '../../../src/pipeline/handler';
import type { Scorer } from '../../../src/model/scorer';
import { simulate } from '../../../src/sim/generate';

const raw = (value: string | null, line: number): RawRecord => lineRecord(value, line);

describe('pipeline/process (memory store, the shipped model)', function () {
  this.timeout(60_000);
  const settings = loadSettings({ env: {} });
  let scorer: Scorer;

  before(async () => {
    scorer = await buildModel(settings, silentLogger());
  });
  after(() => scorer.dispose());

  const pipeline = () =>
    buildPipeline({
      settings,
      store: buildMemoryStore(settings),
      model: () => scorer,
      format: 'json',
      allowJson: true,
    });

  it('answers every record in input order: a decision per valid one, a dead letter per bad one', async () => {
    const { events } = simulate({ seed: 4, sessions: 60, attackRate: 0.3, start: Date.UTC(2026, 9, 1) });
    const records = events.map((e, i) => raw(JSON.stringify(e), i + 1));
    records.splice(10, 0, raw('{"not": "an action"}', -1), raw(null, -2));
    const result = await pipeline()(records);
    assert.equal(result.outcomes.length, records.length);
    assert.equal(result.decisions.length, events.length);
    assert.equal(result.deadLetters.length, 2);
    assert.equal(result.outcomes[10]!.kind, 'dead_letter');
    assert.equal(result.outcomes[11]!.kind, 'dead_letter');
    assert.deepEqual(
      result.decisions.map((d) => d.event_id),
      events.map((e) => e.event_id),
    );
    for (const d of result.decisions) {
      assert.ok(d.score >= 0 && d.score <= 1);
      assert.equal(d.model_version, scorer.version);
      if (d.decision === 'ALLOW') assert.deepEqual(d.reasons, []);
      else assert.ok(d.reasons.length > 0 && d.reasons.every((r) => r.weight >= 0 && r.detail.length > 0));
    }
    assert.ok(
      result.decisions.some((d) => d.decision !== 'ALLOW'),
      'attacks in the traffic are flagged',
    );
  });

  it('a redelivered event gets the same decision and leaves the window alone', async () => {
    const { events } = simulate({ seed: 5, sessions: 20, attackRate: 0.5, start: Date.UTC(2026, 9, 1) });
    const process = pipeline();
    const first = await process(events.map((e, i) => raw(JSON.stringify(e), i + 1)));
    // The whole input again, then one more later event: it must see the window as if nothing repeated.
    const again = await process(events.map((e, i) => raw(JSON.stringify(e), i + 1)));
    assert.equal(again.duplicates, events.length);
    const strip = (d: (typeof first.decisions)[number]) => ({ ...d, decided_at: 0 });
    assert.deepEqual(again.decisions.map(strip), first.decisions.map(strip));

    const fresh = pipeline();
    const freshFirst = await fresh(events.map((e, i) => raw(JSON.stringify(e), i + 1)));
    assert.deepEqual(
      freshFirst.decisions.map(strip),
      first.decisions.map(strip),
      'deterministic across stores',
    );

    // A later event of a busy session scores the same whether or not everything was redelivered.
    const last = events[events.length - 1]!;
    const later = { ...last, event_id: 'later-event', ts: last.ts + 1000, action: 'export', records: 500 };
    const [afterRedelivery] = (await process([raw(JSON.stringify(later), 1)])).decisions;
    const [withoutRedelivery] = (await fresh([raw(JSON.stringify(later), 1)])).decisions;
    assert.deepEqual(strip(afterRedelivery!), strip(withoutRedelivery!));
  });

  it('a redelivered batch: a session terminated before its logout stays terminated after it', async () => {
    const { events } = simulate({ seed: 5, sessions: 20, attackRate: 0.5, start: Date.UTC(2026, 9, 1) });
    const first = await pipeline()(events.map((e, i) => raw(JSON.stringify(e), i + 1)));
    const t = first.decisions.find((d) => d.decision === 'TERMINATE');
    assert.ok(t, 'the traffic has a terminated session');
    // The session goes on after a logout: its window starts over (n = 0), its policy state does not.
    const session = events.filter((e) => e.session_id === t.session_id);
    const last = session[session.length - 1]!;
    const more = ['logout', 'view', 'view'].map((action, i) => ({
      ...last,
      event_id: `${last.event_id}-after-${i}`,
      ts: last.ts + (i + 1) * 1000,
      action,
    }));
    const records = [...session, ...more].map((e, i) => raw(JSON.stringify(e), i + 1));
    const process = pipeline();
    const once = await process(records);
    // Delivered again, as after a crash: every event is a duplicate of the window.
    const again = await process(records);
    assert.equal(again.duplicates, records.length);
    const strip = (d: Decision) => ({ ...d, decided_at: 0 });
    assert.deepEqual(again.decisions.map(strip), once.decisions.map(strip));
    assert.deepEqual(
      once.decisions.slice(-2).map((d) => [d.decision, d.policy_rule]),
      [
        ['TERMINATE', 'friction.terminated'],
        ['TERMINATE', 'friction.terminated'],
      ],
    );
  });

  it("a session's timeline keeps its actions in order across a logout (the window starts over)", async () => {
    const { events } = simulate({ seed: 6, sessions: 1, attackRate: 0, start: Date.UTC(2026, 9, 1) });
    const last = events[events.length - 1]!;
    const more = ['logout', 'login', 'view', 'view'].map((action, i) => ({
      ...last,
      event_id: `${last.event_id}-after-${i}`,
      ts: last.ts + (i + 1) * 1000,
      action,
    }));
    const all = [...events, ...more];
    const store = buildMemoryStore(settings);
    const process = buildPipeline({ settings, store, model: () => scorer, format: 'json', allowJson: true });
    const result = await process(all.map((e, i) => raw(JSON.stringify(e), i + 1)));
    await result.settle?.();
    const entries = (await store.readTimeline(last.session_id)).map(
      (j) => JSON.parse(j) as { event_id: string },
    );
    const expected = all.slice(-settings.timeline.maxEntries).map((e) => e.event_id);
    assert.deepEqual(
      entries.map((e) => e.event_id),
      expected,
    );
  });

  it('batches that overlap decide friction in the order they were begun: a later one sees an earlier termination', async () => {
    // Every action looks like an attack; the first batch's model call is slow, so the second
    // batch is scored while the first is not yet through friction control.
    let delayMs = 0;
    const alarmed = Object.create(scorer) as Scorer;
    alarmed.score = async (_x: Float32Array, rows: number) => {
      const wait = delayMs;
      delayMs = 0;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      return new Float32Array(rows).fill(0.9999);
    };
    const process = buildPipeline({
      settings,
      store: buildMemoryStore(settings),
      model: () => alarmed,
      format: 'json',
      allowJson: true,
    });
    const [start] = simulate({ seed: 6, sessions: 1, attackRate: 0, start: Date.UTC(2026, 9, 1) }).events;
    const at = (n: number) => ({
      ...start!,
      event_id: `overlap-${n}`,
      ts: start!.ts + n * 1000,
      action: 'view',
    });
    delayMs = 200;
    const first = process([raw(JSON.stringify(at(1)), 1)]);
    const second = process([raw(JSON.stringify(at(2)), 1)]);
    const [a] = (await first).decisions;
    const [b] = (await second).decisions;
    assert.equal(a!.decision, 'TERMINATE');
    assert.notEqual(a!.policy_rule, 'friction.terminated');
    assert.equal(b!.decision, 'TERMINATE');
    assert.equal(
      b!.policy_rule,
      'friction.terminated',
      'the session was terminated once, by the first batch',
    );
    assert.equal(b!.score, a!.score, 'answered with the terminating score, not rescored');
  });

  it('a shadow model scores the same rows: its decisions come back aligned, are written apart and counted, and change nothing', async () => {
    // A shadow that disagrees: the active model's score turned upside down.
    const inverted = {
      version: 'inverted',
      score: async (x: Float32Array, rows: number) => (await scorer.score(x, rows)).map((v) => 1 - v),
      contributions: () => Promise.reject(new Error('a shadow is never explained')),
    };
    const metrics = createMetrics();
    const withShadow = buildPipeline({
      settings,
      store: buildMemoryStore(settings),
      model: () => scorer,
      shadow: () => inverted,
      format: 'json',
      allowJson: true,
      metrics,
    });
    const written: { decisions: number; shadow: Decision[] }[] = [];
    const sink = {
      write: async (
        decisions: readonly Decision[],
        _dl: readonly unknown[],
        shadow: readonly Decision[] = [],
      ) => {
        written.push({ decisions: decisions.length, shadow: [...shadow] });
      },
      close: async () => undefined,
    };
    const handler = createBatchHandler({
      process: withShadow,
      sink,
      emitAllow: true,
      metrics,
      source: 'test',
    });
    const { events } = simulate({ seed: 5, sessions: 30, attackRate: 0.3, start: Date.UTC(2026, 9, 1) });
    const records = events.map((e, i) => raw(JSON.stringify(e), i + 1));
    const result = await handler.handle(records);
    const plain = await pipeline()(records);

    assert.deepEqual(
      result.decisions.map((d) => [d.decision, d.score, d.model_version]),
      plain.decisions.map((d) => [d.decision, d.score, d.model_version]),
      'the active decisions are those without a shadow',
    );
    const shadow = result.shadow!;
    assert.equal(shadow.length, result.decisions.length);
    shadow.forEach((sd, i) => {
      const d = result.decisions[i]!;
      assert.equal(sd.event_id, d.event_id);
      assert.equal(sd.decision_id, d.decision_id);
      assert.equal(sd.model_version, 'inverted');
      // A session terminated earlier reports the terminating decision's score (not rescored).
      if (d.policy_rule !== 'friction.terminated')
        assert.equal(sd.score, Math.round((1 - d.score) * 1e4) / 1e4);
    });
    assert.deepEqual(written[0]!.shadow, shadow);
    const differ = shadow.filter((sd, i) => sd.decision !== result.decisions[i]!.decision).length;
    assert.ok(differ > 0);
    const disagreements = (await metrics.shadowDisagreements.get()).values.reduce((n, v) => n + v.value, 0);
    assert.equal(disagreements, differ);
  });
});
