import assert from 'node:assert/strict';
import type { Reason, SessionAction } from '../../../src/contract';
import { builtinPolicy } from '../../../src/policy/compile';
import { decide } from '../../../src/policy/decide';
import { applyFriction, type FrictionState, type Origin } from '../../../src/policy/friction';
import { action, steadyView } from '../../helpers/fixtures';

const P = builtinPolicy();
const F = P.friction;
const MIN = 60_000;
const T0 = 1_760_000_000_000;

/** Runs one session's events through the policy and friction control, like the pipeline. */
class Session {
  state: FrictionState | null = null;
  n = 0;
  recordAllow = false;

  step(
    score: number,
    o: Parameters<typeof action>[0] & { fp?: string; reasons?: string[]; duplicateOf?: SessionAction },
    origin: Origin = 'stream',
  ) {
    const { fp = 'fp-victim', reasons: codes = ['ASN_CHANGED'], duplicateOf, ...rest } = o;
    const a = duplicateOf ?? action(rest);
    const view = steadyView(a, {
      n: duplicateOf ? (this.seenN.get(a.event_id) as number) : this.n++,
      duplicate: !!duplicateOf,
    });
    if (!duplicateOf) this.seenN.set(a.event_id, view.n);
    const base = decide(score, a, view, P);
    const reasons: Reason[] =
      base.decision === 'ALLOW' ? [] : codes.map((code) => ({ code, detail: code, weight: 0.5 }));
    const out = applyFriction(
      this.state,
      {
        action: a,
        view,
        fpId: fp,
        decisionId: `d-${a.event_id}`,
        score,
        modelVersion: 'm/1',
        base,
        reasons,
        trusted: () => decide(score, a, view, P, 'none'),
        origin,
        recordAllow: this.recordAllow,
      },
      F,
    );
    if (out.next) this.state = out.next;
    return { ...out, action: a };
  }

  private readonly seenN = new Map<string, number>();
}

describe('policy/friction', () => {
  it('a passed step-up trusts the client that passed: the next STEP_UP from it is answered ALLOW', () => {
    const s = new Session();
    assert.equal(s.step(0.7, { ts: T0 }).decision, 'STEP_UP');
    const passed = s.step(0.1, { ts: T0 + MIN, action: 'step_up_passed' });
    assert.equal(passed.decision, 'ALLOW');
    assert.equal(passed.rule, 'friction.step_up_passed');
    assert.equal(passed.reasons[0]!.code, 'STEP_UP_PASSED');
    const after = s.step(0.7, { ts: T0 + 2 * MIN, reasons: ['COUNTRY_CHANGED'] });
    assert.equal(after.decision, 'ALLOW');
    assert.equal(after.rule, 'friction.trusted_after_step_up');
    assert.equal(after.reasons[0]!.code, 'TRUSTED_AFTER_STEP_UP');
    // A sensitive action at medium risk (BLOCK_ACTION) from the trusted client is allowed too.
    assert.equal(s.step(0.55, { ts: T0 + 3 * MIN, action: 'export', records: 100 }).decision, 'ALLOW');
  });

  it('trust does not cover a new, different fingerprint, a critical score, or the time after it ends', () => {
    const s = new Session();
    s.step(0.7, { ts: T0 });
    s.step(0.1, { ts: T0 + MIN, action: 'step_up_passed' });
    assert.equal(
      s.step(0.7, { ts: T0 + 2 * MIN, fp: 'fp-attacker', reasons: ['JA4_CHANGED'] }).decision,
      'STEP_UP',
    );
    assert.equal(
      s.step(0.7, { ts: T0 + MIN + F.trustAfterStepUpMs + 1, reasons: ['IP_CHANGED'] }).decision,
      'STEP_UP',
    );
    const s2 = new Session();
    s2.step(0.1, { ts: T0, action: 'step_up_passed' });
    assert.equal(s2.step(0.95, { ts: T0 + MIN }).decision, 'TERMINATE');
  });

  it('no second STEP_UP for the same causes within the cooldown; a new cause is asked again', () => {
    const s = new Session();
    assert.equal(s.step(0.7, { ts: T0, reasons: ['ASN_CHANGED', 'IP_CHANGED'] }).decision, 'STEP_UP');
    const again = s.step(0.7, { ts: T0 + MIN, reasons: ['ASN_CHANGED'] });
    assert.equal(again.decision, 'ALLOW');
    assert.equal(again.rule, 'friction.step_up_cooldown');
    assert.equal(again.reasons[0]!.code, 'STEP_UP_COOLDOWN');
    assert.equal(
      s.step(0.7, { ts: T0 + 2 * MIN, reasons: ['ASN_CHANGED', 'NEW_DEVICE'] }).decision,
      'STEP_UP',
    );
    assert.equal(
      s.step(0.7, { ts: T0 + 2 * MIN + F.stepUpCooldownMs, reasons: ['ASN_CHANGED'] }).decision,
      'STEP_UP',
    );
  });

  it('a failed step-up escalates: blocks instead of step-ups, TERMINATE after terminateAfter failures', () => {
    const s = new Session();
    s.step(0.7, { ts: T0 });
    const failed = s.step(0.1, { ts: T0 + MIN, action: 'step_up_failed' });
    assert.equal(failed.decision, F.escalateTo);
    assert.equal(failed.reasons[0]!.code, 'STEP_UP_FAILED');
    assert.equal(s.step(0.7, { ts: T0 + 2 * MIN, reasons: ['UA_CHANGED'] }).decision, F.escalateTo);
    for (let k = 2; k < F.terminateAfter; k++)
      s.step(0.1, { ts: T0 + (2 + k) * MIN, action: 'step_up_failed' });
    const last = s.step(0.1, { ts: T0 + 20 * MIN, action: 'step_up_failed' });
    assert.equal(last.decision, 'TERMINATE');
    assert.equal(last.rule, 'friction.step_up_failed');
  });

  it('a passed step-up resets the failures', () => {
    const s = new Session();
    s.step(0.1, { ts: T0, action: 'step_up_failed' });
    s.step(0.1, { ts: T0 + MIN, action: 'step_up_passed' });
    assert.equal(s.state!.failures, 0);
    assert.equal(s.step(0.7, { ts: T0 + 2 * MIN, fp: 'fp-other' }).decision, 'STEP_UP');
  });

  it("a terminated session's later events are answered TERMINATE without rescoring", () => {
    const s = new Session();
    const t = s.step(0.97, { ts: T0 });
    assert.equal(t.decision, 'TERMINATE');
    for (const [score, o] of [
      [0.01, { action: 'view' }],
      [0.01, { action: 'step_up_passed' }],
      [0.5, { action: 'export', records: 5 }],
    ] as const) {
      const later = s.step(score, { ts: T0 + MIN, ...o });
      assert.equal(later.decision, 'TERMINATE');
      assert.equal(later.rule, 'friction.terminated');
      assert.deepEqual(later.terminated, { score: 0.97, model: 'm/1' });
      assert.equal(later.reasons[0]!.code, 'SESSION_TERMINATED');
      assert.match(later.reasons[0]!.detail, /d-/);
    }
  });

  it('a redelivered event gets its first outcome back, even after the state moved on', () => {
    const s = new Session();
    const first = s.step(0.7, { ts: T0, reasons: ['ASN_CHANGED'] });
    assert.equal(first.decision, 'STEP_UP');
    const plain = s.step(0.1, { ts: T0 + MIN });
    s.step(0.97, { ts: T0 + 2 * MIN });
    // Now in cooldown and terminated: a naive re-decision would differ.
    const again = s.step(0.7, { duplicateOf: first.action });
    assert.equal(again.decision, 'STEP_UP');
    assert.equal(again.next, null);
    const plainAgain = s.step(0.1, { duplicateOf: plain.action });
    assert.equal(plainAgain.decision, 'ALLOW');
  });

  it("the inline API's published answers are recorded, and their Kafka copies are marked published", () => {
    const s = new Session();
    const allowed = s.step(0.1, { ts: T0 }, 'api');
    assert.equal(allowed.decision, 'ALLOW');
    assert.equal(allowed.next, null, 'an ALLOW is not published (no emitAllow): nothing to record');
    const stepped = s.step(0.7, { ts: T0 + MIN }, 'api');
    assert.equal(stepped.decision, 'STEP_UP');
    assert.equal(s.step(0.7, { duplicateOf: stepped.action }, 'stream').published, true);
    const streamed = s.step(0.7, { ts: T0 + 2 * MIN, reasons: ['NEW_DEVICE'] });
    assert.equal(s.step(0.7, { duplicateOf: streamed.action }).published, false);
    const s2 = new Session();
    s2.recordAllow = true;
    const inline = s2.step(0.1, { ts: T0 }, 'api');
    assert.ok(inline.next, 'with emitAllow the ALLOW is published, so it is recorded');
    assert.equal(s2.step(0.1, { duplicateOf: inline.action }, 'stream').published, true);
  });

  it('keeps a bounded record', () => {
    const s = new Session();
    for (let i = 0; i < 100; i++) s.step(0.55, { ts: T0 + i * 1000, action: 'export', records: 5 });
    assert.equal(s.state!.recent.length, 32);
    assert.ok(JSON.stringify(s.state).length < 4000);
  });
});
