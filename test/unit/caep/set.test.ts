import assert from 'node:assert/strict';
import type { Decision } from '../../../src/contract';
import {
  CAEP_EVENT_PREFIX,
  buildSet,
  caepEventFor,
  reasonAdmin,
  setJti,
  subjectOf,
} from '../../../src/caep/set';

const decision = (over: Partial<Decision> = {}): Decision => ({
  decision_id: '6f1c2d3e-4b5a-5c6d-8e7f-0a1b2c3d4e5f',
  event_id: 'ev-1',
  session_id: 'sess-42',
  user_id: 'alice@example.com',
  app: 'salesforce',
  event_ts: 1_700_000_000_123,
  decided_at: 1_700_000_001_999,
  decision: 'TERMINATE',
  score: 0.9412,
  model_version: '2.0.0',
  reasons: [
    { code: 'JA4_CHANGED', detail: 'TLS fingerprint t13d differs from the session first t12a', weight: 0.6 },
    {
      code: 'IMPOSSIBLE_TRAVEL',
      detail: 'impossible travel: 5400 km/h since the previous action',
      weight: 0.3,
    },
  ],
  action: 'export',
  policy_version: 'default@1#abc',
  policy_rule: 'model-terminate',
  ...over,
});

const RECEIVER = { audience: 'https://idp.example.com/caep' };
const ISS = 'https://risk.example.com';
const REVOKED = `${CAEP_EVENT_PREFIX}session-revoked`;
const ASSURANCE = `${CAEP_EVENT_PREFIX}assurance-level-change`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('caep/set', () => {
  it('maps TERMINATE to session-revoked, STEP_UP to assurance-level-change, nothing else', () => {
    assert.equal(caepEventFor('TERMINATE'), 'session-revoked');
    assert.equal(caepEventFor('STEP_UP'), 'assurance-level-change');
    assert.equal(caepEventFor('ALLOW'), null);
    assert.equal(caepEventFor('BLOCK_ACTION'), null);
    assert.equal(buildSet(decision({ decision: 'ALLOW' }), RECEIVER, ISS, 1), null);
    assert.equal(buildSet(decision({ decision: 'BLOCK_ACTION' }), RECEIVER, ISS, 1), null);
  });

  it('builds a session-revoked SET with exactly the SSF claims (no sub, no exp)', () => {
    const set = buildSet(decision(), RECEIVER, ISS, 1_700_000_002)!;
    assert.equal(set.event, 'session-revoked');
    const c = set.claims;
    assert.deepEqual(Object.keys(c).sort(), ['aud', 'events', 'iat', 'iss', 'jti', 'sub_id', 'txn']);
    assert.equal(c.iss, ISS);
    assert.equal(c.aud, RECEIVER.audience);
    assert.equal(c.iat, 1_700_000_002);
    assert.equal(c.txn, '6f1c2d3e-4b5a-5c6d-8e7f-0a1b2c3d4e5f');
    assert.match(c.jti, UUID);
    assert.deepEqual(c.sub_id, {
      format: 'complex',
      session: { format: 'opaque', id: 'sess-42' },
      user: { format: 'opaque', id: 'alice@example.com' },
    });
    assert.deepEqual(Object.keys(c.events), [REVOKED]);
    const ev = c.events[REVOKED]!;
    assert.deepEqual(Object.keys(ev).sort(), [
      'event_timestamp',
      'initiating_entity',
      'reason_admin',
      'reason_user',
    ]);
    assert.equal(ev.event_timestamp, 1_700_000_001, 'decided_at in whole seconds');
    assert.equal(ev.initiating_entity, 'policy');
    assert.match(ev.reason_admin.en!, /TERMINATE/);
    assert.match(ev.reason_admin.en!, /JA4_CHANGED: TLS fingerprint t13d/);
    assert.match(ev.reason_admin.en!, /IMPOSSIBLE_TRAVEL: impossible travel/);
    assert.match(ev.reason_admin.en!, /model 2\.0\.0/);
    assert.match(ev.reason_admin.en!, /rule model-terminate/);
    assert.equal(
      ev.reason_user.en,
      'Your session was ended because of unusual activity. Please sign in again.',
    );
  });

  it('builds an assurance-level-change SET for STEP_UP: NIST-AAL, aal2 -> aal1, decrease', () => {
    const set = buildSet(decision({ decision: 'STEP_UP' }), RECEIVER, ISS, 5)!;
    assert.equal(set.event, 'assurance-level-change');
    const ev = set.claims.events[ASSURANCE] as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(set.claims.events), [ASSURANCE]);
    assert.equal(ev.namespace, 'NIST-AAL');
    assert.equal(ev.current_level, 'nist-aal1');
    assert.equal(ev.previous_level, 'nist-aal2');
    assert.equal(ev.change_direction, 'decrease');
    assert.equal(ev.initiating_entity, 'policy');
    assert.equal(ev.event_timestamp, 1_700_000_001);
    assert.ok(typeof (ev.reason_user as Record<string, string>).en === 'string');
  });

  it('derives the jti from (decision_id, event type, audience) only', () => {
    const a = buildSet(decision(), RECEIVER, ISS, 1)!.claims.jti;
    // same decision again, later, other reasons or issuer: same jti
    assert.equal(
      buildSet(decision({ score: 0.99, reasons: [] }), RECEIVER, 'https://other', 999)!.claims.jti,
      a,
    );
    assert.equal(a, setJti('6f1c2d3e-4b5a-5c6d-8e7f-0a1b2c3d4e5f', 'session-revoked', RECEIVER.audience));
    // any of the three changes it
    const others = [
      buildSet(decision({ decision_id: 'other' }), RECEIVER, ISS, 1)!.claims.jti,
      buildSet(decision({ decision: 'STEP_UP' }), RECEIVER, ISS, 1)!.claims.jti,
      buildSet(decision(), { audience: 'https://other-idp' }, ISS, 1)!.claims.jti,
    ];
    assert.equal(new Set([a, ...others]).size, 4);
    for (const j of others) assert.match(j, UUID);
  });

  it('keeps a pinned jti: an RFC 4122 v5 UUID (same as Python uuid5 gives)', () => {
    assert.equal(setJti('d-1', 'session-revoked', 'aud'), setJti('d-1', 'session-revoked', 'aud'));
    assert.equal(setJti('d-1', 'session-revoked', 'aud'), 'e4470085-f40c-55fb-8040-f37159282c96');
  });

  it('honours the events a receiver asked for', () => {
    const onlyRevoked = { audience: 'a', events: ['session-revoked' as const] };
    assert.ok(buildSet(decision(), onlyRevoked, ISS, 1));
    assert.equal(buildSet(decision({ decision: 'STEP_UP' }), onlyRevoked, ISS, 1), null);
  });

  it('keeps reason_admin bounded and works without reasons, rule or action', () => {
    const long = decision({
      reasons: Array.from({ length: 40 }, (_, i) => ({
        code: 'UA_CHANGED',
        detail: 'x'.repeat(100) + i,
        weight: 0.1,
      })),
    });
    assert.ok(reasonAdmin(long).length <= 1000);
    const bare = reasonAdmin(decision({ reasons: [], policy_rule: null, action: null }));
    assert.equal(bare, 'risk-stream TERMINATE (score 0.941, model 2.0.0)');
  });

  it('builds the complex subject from session and user', () => {
    assert.deepEqual(subjectOf({ session_id: 's', user_id: 'u' }), {
      format: 'complex',
      session: { format: 'opaque', id: 's' },
      user: { format: 'opaque', id: 'u' },
    });
  });
});
