import assert from 'node:assert/strict';
import { builtinPolicy, parsePolicy } from '../../../src/policy/compile';
import { decide, sensitivityOf } from '../../../src/policy/decide';
import { action, steadyView } from '../../helpers/fixtures';

const P = builtinPolicy();

/** A small policy with the catalog examples and stricter contractors and admins. */
const STRICT = parsePolicy(
  `
name: strict
version: 3
riskLevels: { low: 0.3, medium: 0.5, high: 0.6, critical: 0.9 }
catalog:
  '*':
    export:
      sensitivity: medium
      records:
        1000: high
        20000: { sensitivity: critical, reason: MASS_EXPORT }
  salesforce:
    export: high
  workday:
    approve: high
  aws-console:
    config_change: critical
responses:
  none: { none: ALLOW, low: ALLOW, medium: ALLOW, high: STEP_UP, critical: TERMINATE }
  low: { none: ALLOW, low: ALLOW, medium: ALLOW, high: STEP_UP, critical: TERMINATE }
  medium: { none: ALLOW, low: ALLOW, medium: STEP_UP, high: STEP_UP, critical: TERMINATE }
  high: { none: ALLOW, low: STEP_UP, medium: BLOCK_ACTION, high: BLOCK_ACTION, critical: TERMINATE }
  critical: { none: STEP_UP, low: BLOCK_ACTION, medium: BLOCK_ACTION, high: TERMINATE, critical: TERMINATE }
rules:
  - name: contractors-stricter
    when: { principal: [CONTRACTOR], sensitivity: [medium, high, critical] }
    atLeast: { low: BLOCK_ACTION }
  - name: admins-medium-risk
    when: { principal: [ADMIN] }
    atLeast: { medium: STEP_UP }
  - name: github-views-relaxed
    when: { app: [github], action: [view] }
    respond: { high: ALLOW }
principals:
  SERVICE:
    replace: { STEP_UP: BLOCK_ACTION }
`,
  'strict.yaml',
);

describe('policy/decide', () => {
  describe('the built-in policy (the thresholds the engine shipped with before policy files)', () => {
    const cases: [string, number, Parameters<typeof action>[0], string][] = [
      ['low score view', 0.1, { action: 'view' }, 'ALLOW'],
      ['high score view', 0.7, { action: 'view' }, 'STEP_UP'],
      ['very high score', 0.95, { action: 'view' }, 'TERMINATE'],
      ['terminate beats sensitive block', 0.95, { action: 'export', records: 10 }, 'TERMINATE'],
      ['elevated sensitive', 0.35, { action: 'permission_change' }, 'STEP_UP'],
      ['high sensitive', 0.55, { action: 'api_token_create' }, 'BLOCK_ACTION'],
      ['low sensitive', 0.1, { action: 'approve' }, 'ALLOW'],
      ['elevated non-sensitive', 0.35, { action: 'search' }, 'ALLOW'],
      ['mass export, low score', 0.05, { action: 'export', records: 50_000 }, 'STEP_UP'],
      ['mass export, elevated', 0.4, { action: 'export', records: 50_000 }, 'BLOCK_ACTION'],
      [
        'contractor mass export, low score',
        0.05,
        { action: 'export', records: 50_000, principal_type: 'CONTRACTOR' },
        'BLOCK_ACTION',
      ],
      ['service account cannot step up', 0.7, { action: 'view', principal_type: 'SERVICE' }, 'BLOCK_ACTION'],
      ['service account terminated', 0.95, { action: 'view', principal_type: 'SERVICE' }, 'TERMINATE'],
      ['unknown action is ordinary', 0.35, { action: 'frobnicate' }, 'ALLOW'],
    ];
    for (const [name, score, overrides, expected] of cases) {
      it(`${name}: ${score} -> ${expected}`, () => {
        const a = action(overrides);
        assert.equal(decide(score, a, steadyView(a), P).decision, expected);
      });
    }

    it('risk level floors are inclusive', () => {
      const a = action();
      assert.equal(decide(0.6, a, steadyView(a), P).decision, 'STEP_UP');
      assert.equal(decide(0.5999, a, steadyView(a), P).decision, 'ALLOW');
      assert.equal(decide(0.9, a, steadyView(a), P).decision, 'TERMINATE');
    });

    it('a record tier adds its reason and names the cell that decided', () => {
      const a = action({ action: 'export', records: 20_000 });
      const out = decide(0.1, a, steadyView(a), P);
      assert.equal(out.rule, 'responses.critical.none');
      assert.equal(out.sensitivity, 'critical');
      assert.equal(out.risk, 'none');
      assert.equal(out.policyReasons[0]!.code, 'MASS_EXPORT');
      assert.match(out.policyReasons[0]!.detail, /20000/);
    });

    it('a service account replacement is named and explained', () => {
      const a = action({ principal_type: 'SERVICE' });
      const out = decide(0.7, a, steadyView(a), P);
      assert.equal(out.rule, 'responses.none.high+principals.SERVICE');
      assert.equal(out.policyReasons.at(-1)!.code, 'SERVICE_ACCOUNT_NO_STEP_UP');
    });
  });

  describe('a policy file with a per-app catalog, record tiers and principal rules', () => {
    const at = (score: number, o: Parameters<typeof action>[0]) => {
      const a = action(o);
      return decide(score, a, steadyView(a), STRICT);
    };

    it('sensitivity comes from the app entry, else `*`, else none', () => {
      const s = (o: Parameters<typeof action>[0]) => {
        const a = action(o);
        return sensitivityOf(STRICT, a, steadyView(a)).sensitivity;
      };
      assert.equal(s({ app: 'aws-console', action: 'config_change' }), 'critical');
      assert.equal(s({ app: 'github', action: 'config_change' }), 'none');
      assert.equal(s({ app: 'workday', action: 'approve' }), 'high');
      assert.equal(s({ app: 'salesforce', action: 'export', records: 50_000 }), 'high'); // its own entry has no tiers
      assert.equal(s({ app: 'snowflake', action: 'export', records: 20 }), 'medium');
      assert.equal(s({ app: 'snowflake', action: 'export', records: 999 }), 'medium');
      assert.equal(s({ app: 'snowflake', action: 'export', records: 1000 }), 'high');
      assert.equal(s({ app: 'snowflake', action: 'export', records: 20_000 }), 'critical');
      assert.equal(s({ app: 'snowflake', action: 'export', records: null }), 'medium');
    });

    it('exporting 20 rows and 20,000 rows get different answers at the same score', () => {
      assert.equal(at(0.35, { app: 'snowflake', action: 'export', records: 20 }).decision, 'ALLOW');
      assert.equal(
        at(0.35, { app: 'snowflake', action: 'export', records: 20_000 }).decision,
        'BLOCK_ACTION',
      );
      assert.equal(at(0.1, { app: 'snowflake', action: 'export', records: 20_000 }).decision, 'STEP_UP');
    });

    it('a critical action is stepped up even at no risk, and terminated at high risk', () => {
      assert.equal(at(0.05, { app: 'aws-console', action: 'config_change' }).decision, 'STEP_UP');
      assert.equal(at(0.65, { app: 'aws-console', action: 'config_change' }).decision, 'TERMINATE');
    });

    it('contractors are stricter: `atLeast` raises, and names the rule', () => {
      const employee = at(0.35, { app: 'workday', action: 'approve' });
      const contractor = at(0.35, { app: 'workday', action: 'approve', principal_type: 'CONTRACTOR' });
      assert.equal(employee.decision, 'STEP_UP');
      assert.equal(contractor.decision, 'BLOCK_ACTION');
      assert.equal(contractor.rule, 'rules.contractors-stricter');
      // atLeast never lowers: a contractor at critical risk is still terminated.
      assert.equal(
        at(0.95, { app: 'workday', action: 'approve', principal_type: 'CONTRACTOR' }).decision,
        'TERMINATE',
      );
    });

    it('admins are stepped up at medium risk on ordinary actions', () => {
      assert.equal(at(0.55, { action: 'view' }).decision, 'ALLOW');
      assert.equal(at(0.55, { action: 'view', principal_type: 'ADMIN' }).decision, 'STEP_UP');
    });

    it('`respond` sets the response for the levels it names, lower as well as higher', () => {
      assert.equal(at(0.7, { app: 'github', action: 'view' }).decision, 'ALLOW');
      assert.equal(at(0.7, { app: 'github', action: 'view' }).rule, 'rules.github-views-relaxed');
      assert.equal(at(0.95, { app: 'github', action: 'view' }).decision, 'TERMINATE');
    });

    it('a service account is blocked where others are stepped up, never stepped up', () => {
      for (const score of [0, 0.35, 0.55, 0.7, 0.95]) {
        for (const o of [
          { action: 'view' },
          { app: 'aws-console', action: 'config_change' },
          { app: 'snowflake', action: 'export', records: 50_000 },
        ]) {
          assert.notEqual(at(score, { ...o, principal_type: 'SERVICE' }).decision, 'STEP_UP');
        }
      }
      assert.equal(
        at(0.05, { app: 'aws-console', action: 'config_change', principal_type: 'SERVICE' }).decision,
        'BLOCK_ACTION',
      );
    });

    it('the policy id carries name, version and a content hash', () => {
      assert.match(STRICT.id, /^strict@3#[0-9a-f]{12}$/);
      assert.match(P.id, /^default@1#[0-9a-f]{12}$/);
    });
  });
});
