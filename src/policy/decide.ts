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

function tierReason(code: string, atLeast: number, view: WindowView, action: SessionAction): Reason {
  const detail = isReasonCode(code)
    ? describe(code, view, action)
    : `${action.action} of ${action.records ?? 0} records (policy tier: ${atLeast} or more)`;
  return { code, detail, weight: 1 };
}

/** How sensitive the action is under the policy, and the reasons its record tier adds. */
export function sensitivityOf(
  policy: CompiledPolicy,
  action: SessionAction,
  view: WindowView,
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

  const replacement = policy.replace[action.principal_type]?.[decision];
  if (replacement !== undefined) {
    const code =
      action.principal_type === 'SERVICE' && decision === 'STEP_UP'
        ? 'SERVICE_ACCOUNT_NO_STEP_UP'
        : 'PRINCIPAL_RESTRICTED';
    policyReasons.push({
      code,
      detail:
        code === 'SERVICE_ACCOUNT_NO_STEP_UP'
          ? describe(code, view, action)
          : `${action.principal_type} principals get ${replacement} instead of ${decision}`,
      weight: 0,
    });
    decision = replacement;
    rule += `+principals.${action.principal_type}`;
  }
  return { decision, rule, policyReasons, sensitivity, risk };
}
