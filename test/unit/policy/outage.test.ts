import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Reason } from '../../../src/contract';
import { BUILTIN_POLICY_FILE, PolicyError, builtinPolicy, parsePolicy } from '../../../src/policy/compile';
import { atLeastAfterStateLost, decide, decideWithoutState } from '../../../src/policy/decide';
import { applyFriction, recordDecided, type FrictionState } from '../../../src/policy/friction';
import { action, steadyView } from '../../helpers/fixtures';

const P = builtinPolicy();
const T0 = 1_760_000_000_000;

describe('policy/outage: answers without state, and after the state was lost', () => {
  describe('decideWithoutState (outage.withoutState)', () => {
    it('answers by the action sensitivity alone, with STATE_UNAVAILABLE and its own rule', () => {
      const view = decideWithoutState(action({ action: 'view' }), P);
      assert.equal(view.decision, 'ALLOW');
      assert.equal(view.rule, 'outage.withoutState.none');
      assert.equal(view.policyReasons[0]!.code, 'STATE_UNAVAILABLE');
      const exp = decideWithoutState(action({ action: 'export', records: 10 }), P);
      assert.equal(exp.decision, 'BLOCK_ACTION');
      assert.equal(exp.rule, 'outage.withoutState.high');
    });

    it('keeps record tiers and principal replacements', () => {
      const mass = decideWithoutState(action({ action: 'export', records: 20_000 }), P);
      assert.equal(mass.sensitivity, 'critical');
      assert.deepEqual(
        mass.policyReasons.map((r) => r.code),
        ['STATE_UNAVAILABLE', 'MASS_EXPORT'],
      );
      const text = fs
        .readFileSync(BUILTIN_POLICY_FILE, 'utf8')
        .replace(
          '  withoutState: { none: ALLOW, low: ALLOW, medium: STEP_UP, high: BLOCK_ACTION, critical: BLOCK_ACTION }',
          '  withoutState: { high: STEP_UP }',
        );
      const lenient = parsePolicy(text, 'lenient.yaml');
      assert.equal(lenient.outage.withoutState.high, 'STEP_UP');
      assert.equal(lenient.outage.withoutState.critical, 'BLOCK_ACTION', 'the others keep their default');
      const service = decideWithoutState(action({ action: 'approve', principal_type: 'SERVICE' }), lenient);
      assert.equal(service.decision, 'BLOCK_ACTION');
      assert.equal(service.rule, 'outage.withoutState.high+principals.SERVICE');
      assert.equal(service.policyReasons.at(-1)!.code, 'SERVICE_ACCOUNT_NO_STEP_UP');
    });

    it('a policy file is checked: an unknown response or sensitivity is refused with its line', () => {
      const text = `${fs.readFileSync(BUILTIN_POLICY_FILE, 'utf8')}`.replace(
        'stateLost: { none: ALLOW,',
        'stateLost: { extreme: BLOCK, none: ALLOW,',
      );
      assert.throws(
        () => parsePolicy(text, 'p.yaml'),
        (err: unknown) =>
          err instanceof PolicyError && err.issues.some((i) => i.setting.startsWith('outage.stateLost')),
      );
    });
  });

  describe('atLeastAfterStateLost (outage.stateLost)', () => {
    it('raises a sensitive action to at least STEP_UP, leaves stricter answers and plain actions alone', () => {
      const a = action({ action: 'export', records: 5 });
      const base = decide(0.01, a, steadyView(a), P);
      assert.equal(base.decision, 'ALLOW');
      const raised = atLeastAfterStateLost(base, a, P);
      assert.equal(raised.decision, 'STEP_UP');
      assert.equal(raised.rule, 'outage.stateLost.high');
      assert.equal(raised.policyReasons[0]!.code, 'SESSION_STATE_LOST');
      const blocked = decide(0.55, a, steadyView(a), P);
      assert.equal(atLeastAfterStateLost(blocked, a, P), blocked);
      const v = action({ action: 'view' });
      const plain = decide(0.01, v, steadyView(v), P);
      assert.equal(atLeastAfterStateLost(plain, v, P), plain);
    });

    it('a service account is blocked instead (it cannot step up)', () => {
      const a = action({ action: 'export', records: 5, principal_type: 'SERVICE' });
      const raised = atLeastAfterStateLost(decide(0.01, a, steadyView(a), P), a, P);
      assert.equal(raised.decision, 'BLOCK_ACTION');
      assert.equal(raised.rule, 'outage.stateLost.high+principals.SERVICE');
    });
  });

  describe('friction control of a session whose state was lost', () => {
    /** One event through decide + applyFriction, as the pipeline runs it. */
    function step(
      state: FrictionState | null,
      o: Parameters<typeof action>[0],
      arrival: number,
      lostNow: boolean,
      score = 0.01,
    ) {
      const a = action({ session_id: 's-lost', ...o });
      const view = steadyView(a, { n: arrival, arrival });
      const base = decide(score, a, view, P);
      const reasons: Reason[] = [];
      return applyFriction(
        state,
        {
          action: a,
          view,
          fpId: 'fp-1',
          decisionId: `d-${a.event_id}`,
          score,
          modelVersion: 'm/1',
          base,
          reasons,
          trusted: () => decide(score, a, view, P, 'none'),
          stateLostNow: lostNow,
          afterStateLost: () => atLeastAfterStateLost(base, a, P),
          withoutState: () => decideWithoutState(a, P),
          origin: 'stream',
        },
        P.friction,
      );
    }

    it('is remembered from the event that shows it, steps up the next sensitive action once, and ends with a passed step-up', () => {
      const first = step(null, { action: 'view', ts: T0 }, 0, true);
      assert.equal(first.decision, 'ALLOW');
      assert.ok(first.next?.lost, 'the state keeps it though the answer did not change');
      const exp = step(first.next, { action: 'export', records: 3, ts: T0 + 1000 }, 1, false);
      assert.equal(exp.decision, 'STEP_UP');
      assert.equal(exp.rule, 'outage.stateLost.high');
      assert.equal(exp.reasons[0]!.code, 'SESSION_STATE_LOST');
      // The enforcement point is asking already: not asked again within the cooldown.
      const again = step(exp.next, { action: 'export', records: 3, ts: T0 + 2000 }, 2, false);
      assert.equal(again.decision, 'ALLOW');
      assert.equal(again.rule, 'friction.step_up_cooldown');
      const passed = step(again.next ?? exp.next, { action: 'step_up_passed', ts: T0 + 3000 }, 3, false);
      assert.equal(passed.next?.lost, null);
      const after = step(passed.next, { action: 'export', records: 3, ts: T0 + 4000 }, 4, false);
      assert.equal(after.rule, 'responses.high.none');
    });
  });

  describe('recordDecided (the catch-up of answers made without state)', () => {
    it('a redelivered copy of an answer made without state gets that answer again, not a score', () => {
      const a = action({ session_id: 's-deg', action: 'export', records: 3 });
      const o = decideWithoutState(a, P);
      const entry = {
        eventId: a.event_id,
        plain: true,
        ts: a.ts,
        n: 7,
        decision: o.decision,
        rule: o.rule,
        reasons: o.policyReasons,
        score: 0,
        origin: 'stream',
      } as const;
      const recorded = recordDecided(null, entry);
      assert.deepEqual(recorded.next?.withoutState, [a.event_id]);
      assert.equal(recorded.next?.asOf, 7);
      assert.equal(recorded.repeat, false);
      const twice = recordDecided(recorded.next, entry);
      assert.equal(twice.repeat, true);
      assert.equal(twice.next, null);

      const view = steadyView(a, { n: 7, arrival: 7, duplicate: true });
      const base = decide(0.7, a, view, P);
      const redelivered = applyFriction(
        recorded.next,
        {
          action: a,
          view,
          fpId: 'fp',
          decisionId: 'd',
          score: 0.7,
          modelVersion: 'm/1',
          base,
          reasons: [],
          trusted: () => base,
          withoutState: () => decideWithoutState(a, P),
          origin: 'stream',
        },
        P.friction,
      );
      assert.equal(redelivered.decision, o.decision);
      assert.equal(redelivered.rule, o.rule);
      assert.deepEqual(redelivered.reasons, o.policyReasons);
      assert.equal(redelivered.score, 0);
      assert.equal(redelivered.repeat, true);
    });

    it("keeps the inline API's answers whole in `recent` (published, not published again)", () => {
      const a = action({ session_id: 's-api' });
      const o = decideWithoutState(a, P);
      const r = recordDecided(null, {
        eventId: a.event_id,
        plain: false,
        ts: a.ts,
        n: 0,
        decision: o.decision,
        rule: o.rule,
        reasons: o.policyReasons,
        score: 0,
        origin: 'api',
      });
      assert.deepEqual(r.next?.recent, [[a.event_id, o.decision, o.rule, 'api', o.policyReasons, 0]]);
      assert.equal(r.next?.withoutState, undefined);
    });
  });
});
