import type { DecisionType, Reason, SessionAction, WindowView } from '../contract';
import { describe, isReasonCode } from '../features/reasons';
import { riskLevel, type CatalogEntry, type CompiledPolicy } from './compile';
import type { RiskLevel, Sensitivity } from './schema';

export interface PolicyOutcome {
  decision: DecisionType;
  /**
   * Which part of the policy produced the decision, for logs and audit evidence:
   * `responses.<sensitivity>.<risk>`, `rules.<name>`, with `+principals.<TYPE>` when a principal's
   * replacement applied.
   */
  rule: string;
  /** Reasons the policy adds on top of the model's (record tiers, principal replacements). */
  policyReasons: Reason[];
  sensitivity: Sensitivity;
  risk: RiskLevel;
}

const RANK: Record<DecisionType, number> = { ALLOW: 0, STEP_UP: 1, BLOCK_ACTION: 2, TERMINATE: 3 };
export const stricter = (a: DecisionType, b: DecisionType): DecisionType => (RANK[b] > RANK[a] ? b : a);

/** The catalog entry for an action: the app's own, else the `*` one, else none. */
function catalogEntry(policy: CompiledPolicy, action: SessionAction): CatalogEntry | undefined {
  return policy.catalog.get(action.app)?.get(action.action) ?? policy.catalog.get('*')?.get(action.action);
}

/** A tier's reason; without a window (decided without state) only the action describes it. */
function tierReason(code: string, atLeast: number, view: WindowView | null, action: SessionAction): Reason {
  const detail =
    view && isReasonCode(code)
      ? describe(code, view, action)
      : `${action.action} of ${action.records ?? 0} records (policy tier: ${atLeast} or more)`;
  return { code, detail, weight: 1 };
}

/** How sensitive the action is under the policy, and the reasons its record tier adds. */
export function sensitivityOf(
  policy: CompiledPolicy,
  action: SessionAction,
  view: WindowView | null,
): { sensitivity: Sensitivity; reasons: Reason[] } {
  const entry = catalogEntry(policy, action);
  if (!entry) return { sensitivity: 'none', reasons: [] };
  const records = action.records ?? 0;
  const tier = entry.tiers.find((t) => records >= t.atLeast);
  if (!tier) return { sensitivity: entry.sensitivity, reasons: [] };
  return {
    sensitivity: tier.sensitivity,
    reasons: tier.reason ? [tierReason(tier.reason, tier.atLeast, view, action)] : [],
  };
}

/**
 * Turns a score into the response an enforcement point applies. Pure.
 *
 * The action's sensitivity (catalog, record tiers) and the score's risk level pick a cell of
 * `responses`; every matching rule then applies in file order (`respond` sets, `atLeast` raises);
 * last, the principal type's replacements (a service account cannot be stepped up). `risk`
 * overrides the level the score gives (friction control asks what a trusted session would get).
 */
export function decide(
  score: number,
  action: SessionAction,
  view: WindowView,
  policy: CompiledPolicy,
  risk: RiskLevel = riskLevel(policy, score),
): PolicyOutcome {
  const { sensitivity, reasons: policyReasons } = sensitivityOf(policy, action, view);
  let decision = policy.responses[sensitivity][risk];
  let rule = `responses.${sensitivity}.${risk}`;

  for (const r of policy.rules) {
    if (r.principal && !r.principal.has(action.principal_type)) continue;
    if (r.app && !r.app.has(action.app)) continue;
    if (r.action && !r.action.has(action.action)) continue;
    if (r.sensitivity && !r.sensitivity.has(sensitivity)) continue;
    const set = r.respond[risk];
    if (set !== undefined && set !== decision) {
      decision = set;
      rule = `rules.${r.name}`;
    }
    const floor = r.atLeast[risk];
    if (floor !== undefined && RANK[floor] > RANK[decision]) {
      decision = floor;
      rule = `rules.${r.name}`;
    }
  }

  return replaceForPrincipal({ decision, rule, policyReasons, sensitivity, risk }, action, policy);
}

/** Last step of every outcome: the principal type's replacements (a service account cannot step up). */
function replaceForPrincipal(o: PolicyOutcome, action: SessionAction, policy: CompiledPolicy): PolicyOutcome {
  const replacement = policy.replace[action.principal_type]?.[o.decision];
  if (replacement === undefined) return o;
  const service = action.principal_type === 'SERVICE' && o.decision === 'STEP_UP';
  const reason: Reason = {
    code: service ? 'SERVICE_ACCOUNT_NO_STEP_UP' : 'PRINCIPAL_RESTRICTED',
    detail: service
      ? 'service accounts cannot step up: blocked instead'
      : `${action.principal_type} principals get ${replacement} instead of ${o.decision}`,
    weight: 0,
  };
  return {
    ...o,
    decision: replacement,
    rule: `${o.rule}+principals.${action.principal_type}`,
    policyReasons: [...o.policyReasons, reason],
  };
}

/**
 * The answer for an action decided without the session's state (Redis does not answer and
 * redis.outage is `decide`): `outage.withoutState` by the action's sensitivity (its catalog entry
 * and record tier), then the principal replacements. No score, no rules: they need the session.
 */
export function decideWithoutState(action: SessionAction, policy: CompiledPolicy): PolicyOutcome {
  const { sensitivity, reasons } = sensitivityOf(policy, action, null);
  const unavailable: Reason = {
    code: 'STATE_UNAVAILABLE',
    detail: `the session store did not answer: ${action.action} decided by its sensitivity (${sensitivity}) alone, not scored`,
    weight: 1,
  };
  return replaceForPrincipal(
    {
      decision: policy.outage.withoutState[sensitivity],
      rule: `outage.withoutState.${sensitivity}`,
      policyReasons: [unavailable, ...reasons],
      sensitivity,
      risk: 'none',
    },
    action,
    policy,
  );
}

/**
 * An outcome for a session whose state was lost (Redis came back empty and the session went on
 * without a login): raised to at least `outage.stateLost` for the action's sensitivity, then the
 * principal replacements. Unchanged when it is already at least that.
 */
export function atLeastAfterStateLost(
  outcome: PolicyOutcome,
  action: SessionAction,
  policy: CompiledPolicy,
): PolicyOutcome {
  const floor = policy.outage.stateLost[outcome.sensitivity];
  if (RANK[floor] <= RANK[outcome.decision]) return outcome;
  const lost: Reason = {
    code: 'SESSION_STATE_LOST',
    detail: `the session's state was lost (Redis came back empty): its history is unknown, so a ${outcome.sensitivity}-sensitivity ${action.action} gets at least ${floor} until a step-up passes`,
    weight: 1,
  };
  return replaceForPrincipal(
    {
      ...outcome,
      decision: floor,
      rule: `outage.stateLost.${outcome.sensitivity}`,
      policyReasons: [lost, ...outcome.policyReasons],
    },
    action,
    policy,
  );
}
