import assert from 'node:assert/strict';
import type { Decision, DecisionType } from '../../../src/contract';
import { curveSvg, histogramSvg } from '../../../src/model/charts';
import { evaluate, prCurve, rocCurve, type EvalLabel } from '../../../src/model/evaluate';

const decision = (event_id: string, decision: DecisionType, score: number): Decision => ({
  decision_id: `d-${event_id}`,
  event_id,
  session_id: 's',
  user_id: 'u',
  app: 'a',
  event_ts: 0,
  decided_at: 0,
  decision,
  score,
  model_version: 't',
  reasons: [],
});

describe('model/evaluate', () => {
  it('ROC and PR curves run from the strictest threshold to the loosest, one point per distinct score', () => {
    const roc = rocCurve([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]);
    assert.deepEqual(roc, [
      { x: 0, y: 0 },
      { x: 0, y: 0.5 },
      { x: 0.5, y: 1 },
      { x: 1, y: 1 },
    ]);
    assert.deepEqual(prCurve([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]), [
      { x: 0.5, y: 1 },
      { x: 1, y: 2 / 3 },
      { x: 1, y: 0.5 },
    ]);
  });

  it('detection per scenario counts attacker actions up to the first answer; friction per benign kind', () => {
    const labels: EvalLabel[] = [];
    const decisions = new Map<string, Decision>();
    const add = (
      session: string,
      scenario: string,
      label: number,
      d: DecisionType,
      score: number,
      rule?: string,
    ) => {
      const id = `${session}-${labels.length}`;
      labels.push({ event_id: id, session_id: session, label, scenario });
      const made = decision(id, d, score);
      if (rule) made.reasons = [{ code: rule, detail: 'export of 20000 records', weight: 1 }];
      decisions.set(id, made);
    };
    // replay caught on the 2nd attacker action (victim actions before do not count)
    add('r1', 'replay_foreign', 0, 'ALLOW', 0.01);
    add('r1', 'replay_foreign', 1, 'ALLOW', 0.4);
    add('r1', 'replay_foreign', 1, 'TERMINATE', 0.95);
    // replay caught only on the 4th attacker action
    for (let i = 0; i < 3; i++) add('r2', 'replay_foreign', 1, 'ALLOW', 0.3);
    add('r2', 'replay_foreign', 1, 'STEP_UP', 0.7);
    // misuse never answered
    add('m1', 'insider_export', 1, 'ALLOW', 0.2);
    // benign: one with friction, one terminated, one clean
    add('b1', 'office_worker', 0, 'STEP_UP', 0.65);
    add('b2', 'office_worker', 0, 'TERMINATE', 0.92);
    add('b3', 'mobile_user', 0, 'ALLOW', 0.05);
    // benign friction a policy rule forced, whatever the score
    add('b4', 'analyst', 0, 'STEP_UP', 0.02, 'MASS_EXPORT');
    labels.push({ event_id: 'dead', session_id: 'x', label: 0, scenario: 'office_worker' });

    const ev = evaluate(labels, decisions);
    assert.equal(ev.undecided, 1);
    assert.equal(ev.events, 12);
    assert.equal(ev.positives, 7);
    const replay = ev.attacks.find((a) => a.scenario === 'replay_foreign')!;
    assert.deepEqual(replay, {
      scenario: 'replay_foreign',
      sessions: 2,
      detected: 2,
      detectedWithin: 1,
      medianActionsToDetect: 3,
    });
    assert.deepEqual(ev.benign, [
      { scenario: 'analyst', sessions: 1, withFriction: 1, byModel: 0, terminated: 0 },
      { scenario: 'mobile_user', sessions: 1, withFriction: 0, byModel: 0, terminated: 0 },
      { scenario: 'office_worker', sessions: 2, withFriction: 2, byModel: 2, terminated: 1 },
    ]);
    assert.deepEqual(
      ev.targets.map((t) => [t.value, t.met]),
      [
        [0.5, false],
        [0, false],
        [3 / 4, false],
        [1 / 4, false],
      ],
    );
    assert.equal(
      ev.histogram.attack.reduce((a, b) => a + b, 0) + ev.histogram.benign.reduce((a, b) => a + b, 0),
      12,
    );
  });

  it('charts are well-formed SVG with the curve and the policy thresholds', () => {
    const svg = curveSvg(
      [
        { x: 0, y: 0 },
        { x: 0.1, y: 0.9 },
        { x: 1, y: 1 },
      ],
      { title: 'ROC <test>', xLabel: 'fpr', yLabel: 'tpr', diagonal: true, note: 'AUC 0.95' },
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<path d="M56.0,312.0L96.8,63.6L464.0,36.0"/);
    assert.match(svg, /ROC &lt;test&gt;/);
    const hist = histogramSvg([10, 0], [0, 5], {
      title: 'scores',
      thresholds: [{ at: 0.6, label: 'STEP_UP' }],
    });
    assert.equal((hist.match(/<rect x=/g) ?? []).length, 2 + 2 + 1); // one non-empty bin per class (empty ones draw nothing), 2 legend swatches, the frame
    assert.match(hist, />STEP_UP</);
  });
});
