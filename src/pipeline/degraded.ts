import type { ActionInput, Decision, SessionAction } from '../contract';
import type { CompiledPolicy } from '../policy/compile';
import { decideWithoutState, type PolicyOutcome } from '../policy/decide';
import type { FrictionState, Origin } from '../policy/friction';
import { decisionHeader, decisionId } from './ids';
import type { StoreOutage } from './outage';

export interface DegradedContext {
  policy: CompiledPolicy;
  /** The active model's version (decisions carry it; nothing is scored). */
  modelVersion: string;
  decidedAt: number;
  origin: Origin;
  outage: StoreOutage;
  /** The latest policy state this process knows of a session (the pipeline's overlay), if any. */
  friction: (sessionId: string) => FrictionState | undefined;
}

/**
 * Decides a batch without the session store (redis.outage=decide while Redis does not answer):
 * each action gets the policy's `outage.withoutState` answer for its sensitivity, score 0, reason
 * STATE_UNAVAILABLE, and goes into the outage journal for the catch-up. What this process still
 * knows is used: a session it saw terminated stays terminated, an event decided earlier without
 * state gets that same decision, and the Kafka copy of an action the inline API has published is
 * not published again.
 */
export function decideDegraded(
  valid: readonly { action: SessionAction; input: ActionInput }[],
  ctx: DegradedContext,
): { decisions: { decision: Decision; duplicate: boolean }[]; duplicates: number; published: Set<string> } {
  const { policy, outage } = ctx;
  const published = new Set<string>();
  const decisions: { decision: Decision; duplicate: boolean }[] = [];
  let duplicates = 0;
  for (const { action, input } of valid) {
    const earlier = outage.recorded(action.event_id);
    const known = ctx.friction(action.session_id);
    const id = decisionId(action.event_id);
    let decision: Decision;
    if (earlier) {
      duplicates++;
      decision = earlier.decision;
      if (earlier.origin === 'api' && ctx.origin === 'stream') published.add(id);
    } else {
      const t = policy.friction.terminatedStaysTerminated ? known?.terminated : null;
      const outcome: PolicyOutcome = decideWithoutState(action, policy);
      decision = {
        ...decisionHeader(action, id, ctx.decidedAt),
        decision: t ? 'TERMINATE' : outcome.decision,
        score: t ? t.score : 0,
        model_version: t ? t.model : ctx.modelVersion,
        reasons: t
          ? [
              {
                code: 'SESSION_TERMINATED',
                detail: `the session was terminated at ${new Date(t.ts).toISOString()} by decision ${t.decisionId}; not rescored`,
                weight: 1,
              },
            ]
          : outcome.policyReasons,
        action: action.action,
        policy_version: policy.id,
        policy_rule: t ? 'friction.terminated' : outcome.rule,
      };
      // The inline API published this action already (its answer is in this process's state).
      if (ctx.origin === 'stream' && known?.recent.some((r) => r[0] === action.event_id && r[3] === 'api'))
        published.add(id);
      outage.record({ input, action, decision, outcome, origin: ctx.origin });
    }
    decisions.push({ decision, duplicate: earlier !== undefined });
  }
  return { decisions, duplicates, published };
}
