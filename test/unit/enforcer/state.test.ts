import assert from 'node:assert/strict';
import type { Decision } from '../../../src/contract';
import { SessionEnforcement, type CheckResult } from '../../../src/enforcer/state';

const T0 = 1_760_000_000_000;
const MIN = 60_000;
let seq = 0;

/** A decision for session s-1 decided at T0; override what the test is about. */
function decision(overrides: Partial<Decision> = {}): Decision {
  seq++;
  return {
    decision_id: `d-${seq}`,
    event_id: `e-${seq}`,
    session_id: 's-1',
    user_id: 'u-1',
    app: 'toy-crm',
    event_ts: T0,
    decided_at: T0,
    decision: 'STEP_UP',
    score: 0.7,
    model_version: 'm/1',
    reasons: [{ code: 'UA_CHANGED', detail: 'ua', weight: 0.5 }],
    action: 'view',
    policy_version: null,
    policy_rule: null,
    ...overrides,
  };
}

const pass = (overrides: Partial<Decision> = {}) =>
  decision({ decision: 'ALLOW', action: 'step_up_passed', reasons: [], ...overrides });

/** The decision a check answered with, or 'ALLOW'. */
const verdict = (r: CheckResult) => (r.allow ? 'ALLOW' : r.decision);

describe('enforcer/state SessionEnforcement', () => {
  let e: SessionEnforcement;
  beforeEach(() => {
    e = new SessionEnforcement({ now: () => T0 });
  });

  it('allows sessions it knows nothing about, and ignores plain ALLOWs', () => {
    assert.deepEqual(e.check('s-1', 'export'), { allow: true });
    assert.equal(e.apply(decision({ decision: 'ALLOW', action: 'export' })), 'ignored');
    assert.equal(e.size, 0);
  });

  describe('STEP_UP', () => {
    it('denies every action with 401 until a step_up_passed ALLOW arrives', () => {
      const d = decision({ decision: 'STEP_UP', action: 'view' });
      assert.equal(e.apply(d), 'applied');
      for (const action of ['view', 'export', 'search']) {
        assert.deepEqual(e.check('s-1', action), {
          allow: false,
          decision: 'STEP_UP',
          status: 401,
          reasons: d.reasons,
          decisionId: d.decision_id,
          until: T0 + 15 * MIN,
        });
      }
      assert.equal(e.check('s-2', 'view').allow, true, 'another session is untouched');
      assert.equal(e.apply(pass({ decided_at: T0 + 1000 })), 'applied');
      assert.equal(e.check('s-1', 'export', T0 + 2000).allow, true);
    });

    it('lets the step-up itself and logout through', () => {
      e.apply(decision({ decision: 'STEP_UP' }));
      for (const action of ['step_up', 'step_up_passed', 'step_up_failed', 'logout']) {
        assert.equal(e.check('s-1', action).allow, true, action);
      }
    });

    it('is not lifted by step_up_failed, by other ALLOWs or by a STEP_UP on step_up_passed', () => {
      e.apply(decision({ decision: 'STEP_UP' }));
      e.apply(decision({ decision: 'ALLOW', action: 'step_up_failed', decided_at: T0 + 1 }));
      e.apply(decision({ decision: 'ALLOW', action: 'view', decided_at: T0 + 2 }));
      e.apply(decision({ decision: 'STEP_UP', action: 'step_up_passed', decided_at: T0 + 3 }));
      assert.equal(verdict(e.check('s-1', 'view', T0 + 10)), 'STEP_UP');
    });

    it('lapses after stepUpTtl', () => {
      const e2 = new SessionEnforcement({ stepUpTtlMs: 2 * MIN, now: () => T0 });
      e2.apply(decision({ decision: 'STEP_UP' }));
      assert.equal(verdict(e2.check('s-1', 'view', T0 + 2 * MIN - 1)), 'STEP_UP');
      assert.equal(verdict(e2.check('s-1', 'view', T0 + 2 * MIN)), 'ALLOW');
    });

    it('a later STEP_UP extends it and names the later decision', () => {
      e.apply(decision({ decision: 'STEP_UP' }));
      const later = decision({ decision: 'STEP_UP', decided_at: T0 + 5 * MIN });
      e.apply(later);
      const r = e.check('s-1', 'view', T0 + 16 * MIN);
      assert.equal(r.allow, false);
      assert.equal(!r.allow && r.decisionId, later.decision_id);
      assert.equal(!r.allow && r.until, T0 + 20 * MIN);
    });
  });

  describe('BLOCK_ACTION', () => {
    it('blocks the named action with 403 for blockTtl, nothing else', () => {
      const d = decision({ decision: 'BLOCK_ACTION', action: 'export' });
      assert.equal(e.apply(d), 'applied');
      const r = e.check('s-1', 'export');
      assert.deepEqual(r, {
        allow: false,
        decision: 'BLOCK_ACTION',
        status: 403,
        reasons: d.reasons,
        decisionId: d.decision_id,
        until: T0 + 5 * MIN,
      });
      assert.equal(e.check('s-1', 'approve').allow, true, 'another sensitive action');
      assert.equal(e.check('s-1', 'view').allow, true);
      assert.equal(verdict(e.check('s-1', 'export', T0 + 5 * MIN - 1)), 'BLOCK_ACTION');
      assert.equal(verdict(e.check('s-1', 'export', T0 + 5 * MIN)), 'ALLOW');
    });

    it('without an action name (a v1 writer) blocks every sensitive action', () => {
      e.apply(decision({ decision: 'BLOCK_ACTION', action: null }));
      for (const a of ['export', 'approve', 'permission_change', 'config_change', 'api_token_create']) {
        assert.equal(verdict(e.check('s-1', a)), 'BLOCK_ACTION', a);
      }
      assert.equal(e.check('s-1', 'view').allow, true);
      assert.equal(e.check('s-1', 'step_up').allow, true);
    });

    it('is not lifted by a passed step-up', () => {
      e.apply(decision({ decision: 'BLOCK_ACTION', action: 'export' }));
      e.apply(pass({ decided_at: T0 + 1 }));
      assert.equal(verdict(e.check('s-1', 'export', T0 + 2)), 'BLOCK_ACTION');
    });

    it('wins over STEP_UP (stepping up would not help)', () => {
      e.apply(decision({ decision: 'STEP_UP' }));
      e.apply(decision({ decision: 'BLOCK_ACTION', action: 'export' }));
      assert.equal(verdict(e.check('s-1', 'export')), 'BLOCK_ACTION');
      assert.equal(verdict(e.check('s-1', 'view')), 'STEP_UP');
    });

    it('takes the longer of a named and a sensitive-wide block', () => {
      e.apply(decision({ decision: 'BLOCK_ACTION', action: null, decided_at: T0 }));
      const later = decision({ decision: 'BLOCK_ACTION', action: 'export', decided_at: T0 + MIN });
      e.apply(later);
      const r = e.check('s-1', 'export', T0 + 2 * MIN);
      assert.equal(!r.allow && r.decisionId, later.decision_id);
    });
  });

  describe('TERMINATE', () => {
    it('denies everything with 403, step-up and logout included, for terminateTtl', () => {
      const d = decision({ decision: 'TERMINATE', action: 'export' });
      e.apply(d);
      for (const a of ['view', 'export', 'step_up', 'logout']) {
        assert.equal(verdict(e.check('s-1', a)), 'TERMINATE', a);
      }
      const r = e.check('s-1', 'view');
      assert.equal(!r.allow && r.status, 403);
      assert.equal(!r.allow && r.until, T0 + 12 * 60 * MIN);
      assert.equal(verdict(e.check('s-1', 'view', T0 + 12 * 60 * MIN)), 'ALLOW');
    });

    it('nothing lifts it: not a passed step-up, not an ALLOW', () => {
      e.apply(decision({ decision: 'TERMINATE' }));
      e.apply(pass({ decided_at: T0 + 1 }));
      e.apply(decision({ decision: 'ALLOW', action: 'view', decided_at: T0 + 2 }));
      assert.equal(verdict(e.check('s-1', 'view', T0 + 3)), 'TERMINATE');
    });

    it('wins over BLOCK_ACTION and STEP_UP', () => {
      e.apply(decision({ decision: 'STEP_UP' }));
      e.apply(decision({ decision: 'BLOCK_ACTION', action: 'export' }));
      e.apply(decision({ decision: 'TERMINATE' }));
      assert.equal(verdict(e.check('s-1', 'export')), 'TERMINATE');
    });
  });

  describe('time and order', () => {
    it('ignores decisions already past their TTL, so a replay from long ago changes nothing', () => {
      const now = T0 + 13 * 60 * MIN;
      assert.equal(e.apply(decision({ decision: 'TERMINATE' }), now), 'expired');
      assert.equal(e.apply(decision({ decision: 'STEP_UP', decided_at: now - 15 * MIN }), now), 'expired');
      assert.equal(
        e.apply(decision({ decision: 'BLOCK_ACTION', decided_at: now - 5 * MIN }), now),
        'expired',
      );
      assert.equal(e.apply(pass({ decided_at: now - 15 * MIN }), now), 'expired');
      assert.equal(e.size, 0);
      // Within its TTL a replayed decision still counts, for the rest of its TTL.
      assert.equal(
        e.apply(decision({ decision: 'TERMINATE', decided_at: now - 11 * 60 * MIN }), now),
        'applied',
      );
      assert.equal(verdict(e.check('s-1', 'view', now)), 'TERMINATE');
      assert.equal(verdict(e.check('s-1', 'view', now + 60 * MIN)), 'ALLOW');
    });

    it('a STEP_UP decided before the latest pass does not come back (late arrival)', () => {
      e.apply(decision({ decision: 'STEP_UP', decided_at: T0 }));
      e.apply(pass({ decided_at: T0 + 2000 }));
      assert.equal(e.apply(decision({ decision: 'STEP_UP', decided_at: T0 + 1000 })), 'stale');
      assert.equal(e.check('s-1', 'view', T0 + 3000).allow, true);
      // Even with no step-up in place when the pass arrived.
      e.apply(pass({ session_id: 's-2', decided_at: T0 + 2000 }));
      assert.equal(
        e.apply(decision({ session_id: 's-2', decision: 'STEP_UP', decided_at: T0 + 1000 })),
        'stale',
      );
      assert.equal(e.check('s-2', 'view', T0 + 3000).allow, true);
    });

    it('a pass decided before the STEP_UP does not lift it', () => {
      e.apply(decision({ decision: 'STEP_UP', decided_at: T0 + 2000 }));
      assert.equal(e.apply(pass({ decided_at: T0 + 1000 })), 'applied');
      assert.equal(verdict(e.check('s-1', 'view', T0 + 3000)), 'STEP_UP');
      // ...and an older pass than the one already seen changes nothing.
      e.apply(pass({ decided_at: T0 + 2500 }));
      assert.equal(e.apply(pass({ decided_at: T0 + 2400 })), 'stale');
    });

    it('with equal decided_at (one engine batch) the later arrival wins', () => {
      e.apply(pass({ decided_at: T0 }));
      e.apply(decision({ decision: 'STEP_UP', decided_at: T0 }));
      assert.equal(verdict(e.check('s-1', 'view')), 'STEP_UP');
      e.apply(pass({ decided_at: T0 }));
      assert.equal(verdict(e.check('s-1', 'view')), 'ALLOW');
    });

    it('an older BLOCK_ACTION or TERMINATE does not replace a newer one', () => {
      const newer = decision({ decision: 'BLOCK_ACTION', action: 'export', decided_at: T0 + MIN });
      e.apply(newer);
      assert.equal(
        e.apply(decision({ decision: 'BLOCK_ACTION', action: 'export', decided_at: T0 })),
        'stale',
      );
      const r = e.check('s-1', 'export', T0 + MIN);
      assert.equal(!r.allow && r.decisionId, newer.decision_id);
      assert.equal(!r.allow && r.until, T0 + 6 * MIN);

      const t = decision({ decision: 'TERMINATE', decided_at: T0 + MIN });
      e.apply(t);
      assert.equal(e.apply(decision({ decision: 'TERMINATE', decided_at: T0 })), 'stale');
      const r2 = e.check('s-1', 'view', T0 + MIN);
      assert.equal(!r2.allow && r2.decisionId, t.decision_id);
    });

    it('skips a decision_id it applied already (redelivery), even after newer ones', () => {
      const su = decision({ decision: 'STEP_UP', decided_at: T0 });
      e.apply(su);
      e.apply(pass({ decided_at: T0 }));
      assert.equal(e.apply(su), 'duplicate', 'would otherwise win the equal-time tie again');
      assert.equal(e.check('s-1', 'view').allow, true);
    });

    it('uses the injected clock when no time is passed', () => {
      let now = T0;
      const e2 = new SessionEnforcement({ blockTtlMs: 1000, now: () => now });
      e2.apply(decision({ decision: 'BLOCK_ACTION', action: 'export' }));
      assert.equal(e2.check('s-1', 'export').allow, false);
      now = T0 + 1000;
      assert.equal(e2.check('s-1', 'export').allow, true);
    });

    it('denialOf: what one decision means by itself', () => {
      const d = decision({ decision: 'BLOCK_ACTION', decided_at: T0 });
      assert.deepEqual(e.denialOf(d), {
        allow: false,
        decision: 'BLOCK_ACTION',
        status: 403,
        reasons: d.reasons,
        decisionId: d.decision_id,
        until: T0 + 5 * MIN,
      });
      assert.equal(e.denialOf(pass()), null);
    });
  });

  describe('memory', () => {
    it('evicts the least recently used session past maxSessions', () => {
      const e2 = new SessionEnforcement({ maxSessions: 3, now: () => T0 });
      for (const s of ['a', 'b', 'c']) e2.apply(decision({ session_id: s, decision: 'TERMINATE' }));
      assert.equal(e2.check('a', 'view').allow, false); // a denied check uses 'a': b is now the oldest
      e2.apply(decision({ session_id: 'd', decision: 'TERMINATE' }));
      assert.equal(e2.size, 3);
      assert.equal(e2.check('b', 'view').allow, true, 'b was evicted');
      for (const s of ['a', 'c', 'd']) assert.equal(e2.check(s, 'view').allow, false, s);
      assert.equal(e2.stats().evicted, 1);
    });

    it('prune drops sessions whose state has all expired; check drops one it finds expired', () => {
      e.apply(decision({ session_id: 'a', decision: 'BLOCK_ACTION' }));
      e.apply(decision({ session_id: 'b', decision: 'TERMINATE' }));
      e.apply(pass({ session_id: 'c' }));
      assert.equal(e.size, 3);
      assert.equal(e.prune(T0 + 5 * MIN), 1, 'only the block is over (the pass still orders step-ups)');
      assert.equal(e.prune(T0 + 15 * MIN), 1);
      assert.equal(e.size, 1);
      assert.equal(e.check('b', 'view', T0 + 12 * 60 * MIN).allow, true);
      assert.equal(e.size, 0);
    });

    it('counts what it did', () => {
      e.apply(decision({ decision: 'TERMINATE' }));
      e.apply(decision({ decision: 'ALLOW' }));
      e.apply(decision({ decision: 'STEP_UP', decided_at: 0 }));
      assert.deepEqual(e.stats(), {
        sessions: 1,
        applied: 1,
        ignored: 1,
        expired: 1,
        stale: 0,
        duplicate: 0,
        evicted: 0,
      });
    });

    it('rejects nonsense options', () => {
      assert.throws(() => new SessionEnforcement({ stepUpTtlMs: 0 }), /stepUpTtlMs/);
      assert.throws(() => new SessionEnforcement({ maxSessions: Number.NaN }), /maxSessions/);
    });
  });
});
