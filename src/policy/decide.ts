import {
  SENSITIVE_ACTIONS,
  type DecisionType,
  type Reason,
  type SessionAction,
  type WindowView,
} from '../contract';
import { describe } from '../features/reasons';

export interface PolicySettings {
  /** Any action scoring at least this is stepped up. */
  stepUpScore: number;
  /** Any action scoring at least this terminates the session. */
  terminateScore: number;
  /** A sensitive action scoring at least this is stepped up. */
  sensitiveStepUpScore: number;
  /** A sensitive action scoring at least this is blocked. */
  sensitiveBlockScore: number;
  /** An export of at least this many records is never simply allowed. */
  massExportRecords: number;
  maxReasons: number;
  minReasonWeight: number;
}

export interface PolicyOutcome {
  decision: DecisionType;
  /** Which rule produced the decision (for logs and audit evidence). */
  rule: string;
  /** Reasons the rules add on top of the model's (e.g. MASS_EXPORT). */
  policyReasons: Reason[];
}

const RANK: Record<DecisionType, number> = { ALLOW: 0, STEP_UP: 1, BLOCK_ACTION: 2, TERMINATE: 3 };
export const stricter = (a: DecisionType, b: DecisionType): DecisionType => (RANK[b] > RANK[a] ? b : a);

/** Turns a score into the response an enforcement point applies. Pure. */
export function decide(
  score: number,
  action: SessionAction,
  view: WindowView,
  p: PolicySettings,
): PolicyOutcome {
  const sensitive = SENSITIVE_ACTIONS.has(action.action);
  const policyReasons: Reason[] = [];
  let decision: DecisionType = 'ALLOW';
  let rule = 'score_below_thresholds';

  if (score >= p.terminateScore) {
    decision = 'TERMINATE';
    rule = 'score_terminate';
  } else if (sensitive && score >= p.sensitiveBlockScore) {
    decision = 'BLOCK_ACTION';
    rule = 'sensitive_block';
  } else if (score >= p.stepUpScore) {
    decision = 'STEP_UP';
    rule = 'score_step_up';
  } else if (sensitive && score >= p.sensitiveStepUpScore) {
    decision = 'STEP_UP';
    rule = 'sensitive_step_up';
  }

  if (action.action === 'export' && (action.records ?? 0) >= p.massExportRecords) {
    const floor: DecisionType = score >= p.sensitiveStepUpScore ? 'BLOCK_ACTION' : 'STEP_UP';
    if (RANK[floor] > RANK[decision]) {
      decision = floor;
      rule = 'mass_export';
    }
    policyReasons.push({ code: 'MASS_EXPORT', detail: describe('MASS_EXPORT', view, action), weight: 1 });
  }

  // A service account has no second factor: a step-up it cannot answer becomes a block.
  if (action.principal_type === 'SERVICE' && decision === 'STEP_UP') {
    decision = 'BLOCK_ACTION';
    rule += '+service_account';
    policyReasons.push({
      code: 'SERVICE_ACCOUNT_NO_STEP_UP',
      detail: describe('SERVICE_ACCOUNT_NO_STEP_UP', view, action),
      weight: 0,
    });
  }
  return { decision, rule, policyReasons };
}
