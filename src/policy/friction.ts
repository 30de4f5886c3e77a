import type { DecisionType, Reason, SessionAction, WindowView } from '../contract';
import type { ChainHead } from '../evidence/record';
import type { FrictionSettings } from './compile';
import type { PolicyOutcome } from './decide';
import { stricter } from './decide';

/**
 * Friction control: what a session's earlier decisions and step-ups do to the next decision.
 * Pure; the pipeline keeps one state per session (in the session store, next to the window) and
 * runs the session's events through `applyFriction` in order.
 *
 * - `step_up_passed`: ALLOW; the fingerprint that passed is trusted for `trustAfterStepUp`: a
 *   STEP_UP or BLOCK_ACTION it would get is re-decided as if the score carried no risk (a critical
 *   score still terminates). A new, different fingerprint is scored as usual.
 * - `step_up_failed`: the escalation response (`escalateTo`), TERMINATE after `terminateAfter`
 *   failures since the last pass; until a pass, every STEP_UP becomes the escalation response.
 * - A STEP_UP whose causes (reason codes) were all stepped up within `stepUpCooldown` is answered
 *   ALLOW: the enforcement point is already asking for the step-up.
 * - TERMINATE is final: later events are answered TERMINATE without rescoring.
 * - A session whose state was lost (Redis came back empty; the pipeline tells) gets at least the
 *   policy's `outage.stateLost` response until a step-up passes.
 */

export interface FrictionState {
  /**
   * Arrival number (view.arrival) of the latest event that changed this state; -1 for a new one.
   * Not view.n: that starts over with a new window (after a logout), and the state outlives it.
   */
  asOf: number;
  /** `n`: arrival number of the terminating event (absent in states saved before it was kept). */
  terminated: { ts: number; n?: number; decisionId: string; score: number; model: string } | null;
  trust: { until: number; fps: string[] } | null;
  /** Reason code -> event time until which it is not stepped up again. */
  cooldown: Record<string, number>;
  /** Failed step-ups since the last passed one. */
  failures: number;
  /**
   * The latest outcomes friction changed, that were not ALLOW, or that the inline API decided:
   * [event_id, decision, rule, origin]. A redelivered event gets its recorded outcome back; one
   * the inline API already published is not published again.
   */
  recent: RecentOutcome[];
  /** The head of the session's evidence chain (src/evidence/record.ts); absent before the first record. */
  chain?: ChainHead | null;
  /**
   * Set when the session went on after its state was lost (event time it was found); cleared by a
   * passed step-up. Absent in states saved before it existed.
   */
  lost?: { ts: number } | null;
  /**
   * Events of the stream decided without the session's state (redis.outage=decide), latest
   * WITHOUT_STATE: a redelivered copy is answered without state again (outage.withoutState), not
   * scored from a window it was never decided from. Ids only: the answer follows from the action.
   */
  withoutState?: string[];
}

/** Where a decision was made: the stream (Kafka, replay) or the inline API, which publishes it itself. */
export type Origin = 'stream' | 'api';
/**
 * [event_id, decision, rule, origin, the reasons when friction changed them (else null), and the
 * score when it was not the model's (a decision made without state: 0)].
 */
export type RecentOutcome = [string, DecisionType, string, Origin, Reason[] | null, number?];

const RECENT = 32;
const WITHOUT_STATE = 256;
/** Actions that report a step-up's result: answered by friction control itself. */
const STEP_UP_RESULTS: ReadonlySet<string> = new Set(['step_up_passed', 'step_up_failed']);
const MAX_TRUSTED_FPS = 8;

/** A session with no policy state yet. Shared and frozen: a change is always a new object. */
export const EMPTY_FRICTION: Readonly<FrictionState> = Object.freeze({
  asOf: -1,
  terminated: null,
  trust: null,
  cooldown: Object.freeze({}) as Record<string, number>,
  failures: 0,
  recent: Object.freeze([]) as unknown as RecentOutcome[],
});

export function parseFriction(text: string | null | undefined): FrictionState | null {
  if (!text) return null;
  try {
    const s = JSON.parse(text) as FrictionState;
    return typeof s.asOf === 'number' && Array.isArray(s.recent) ? s : null;
  } catch {
    return null;
  }
}

export interface FrictionInput {
  action: SessionAction;
  view: WindowView;
  /** The event's whole-fingerprint id (ActionInput.ids.fp). */
  fpId: string;
  decisionId: string;
  score: number;
  modelVersion: string;
  /** The policy's outcome before friction, and the reasons it would carry. */
  base: PolicyOutcome;
  reasons: readonly Reason[];
  /** The policy's outcome for this event at risk `none` (what a trusted session gets). */
  trusted: () => PolicyOutcome;
  /**
   * This event shows that the session's state was lost: its window starts again (n = 0) with an
   * action other than a login after the store lost its state.
   */
  stateLostNow?: boolean;
  /** The policy's outcome raised to `outage.stateLost` (for a session whose state was lost). */
  afterStateLost?: () => PolicyOutcome;
  /** The policy's answer without state (outage.withoutState), for a redelivered event decided so. */
  withoutState?: () => PolicyOutcome;
  origin: Origin;
  /**
   * Record the inline API's ALLOW answers too (when ALLOWs are published: kafka.emitAllow), so the
   * Kafka copy of the action is not published again. Otherwise only non-ALLOW answers are recorded.
   */
  recordAllow?: boolean;
}

export interface FrictionResult {
  decision: DecisionType;
  rule: string;
  reasons: Reason[];
  /** Set when the event belongs to a session terminated earlier: the score and model to report. */
  terminated: { score: number; model: string } | null;
  /** A redelivered event whose recorded answer carries its own score (made without state: 0). */
  score?: number;
  /** The session's next state, or null when this event did not change it. */
  next: FrictionState | null;
  /** A redelivered event the inline API decided and published already: not to be published again. */
  published: boolean;
  /**
   * A redelivered event answered from the state (decided before, and that decision's state was
   * saved): its evidence and timeline entry exist already.
   */
  repeat: boolean;
}

const reason = (code: string, detail: string, weight = 1): Reason => ({ code, detail, weight });

export function applyFriction(
  state: FrictionState | null,
  input: FrictionInput,
  f: FrictionSettings,
): FrictionResult {
  let s: FrictionState = state ?? EMPTY_FRICTION;
  const { action, view } = input;
  let base = input.base;
  /** The reasons of `base` (the model's included). */
  let baseReasons: readonly Reason[] = input.reasons;
  /** The state changed by finding the session's state lost (kept even when the answer is not). */
  let foundLost = false;
  const ts = action.ts;
  const n = view.arrival;
  /** `from` with this event's outcome recorded, as of this event. */
  const record = (
    from: FrictionState,
    decision: DecisionType,
    rule: string,
    reasons: readonly Reason[],
  ): FrictionState => {
    const own = reasons.length === input.reasons.length && reasons.every((r, i) => r === input.reasons[i]);
    const entry: RecentOutcome = [action.event_id, decision, rule, input.origin, own ? null : [...reasons]];
    return { ...from, asOf: n, recent: [...from.recent, entry].slice(-RECENT) };
  };
  const { origin } = input;
  const done = (
    decision: DecisionType,
    rule: string,
    reasons: Reason[],
    next: FrictionState | null,
  ): FrictionResult => ({
    decision,
    rule,
    reasons,
    terminated: null,
    // The inline API's published answers are recorded, so the same action arriving on Kafka later
    // is recognised as published.
    next:
      next ??
      (origin === 'api' && !view.duplicate && (decision !== 'ALLOW' || input.recordAllow === true)
        ? record(s, decision, rule, reasons)
        : foundLost
          ? { ...s, asOf: n }
          : null),
    published: false,
    repeat: false,
  });
  const keep = (decision: DecisionType, rule: string, reasons: Reason[]): FrictionResult =>
    done(decision, rule, reasons, null);
  /** A terminated session's later event: TERMINATE without rescoring. */
  const terminatedAnswer = (t: NonNullable<FrictionState['terminated']>): FrictionResult => ({
    ...done(
      'TERMINATE',
      'friction.terminated',
      [
        reason(
          'SESSION_TERMINATED',
          `the session was terminated at ${new Date(t.ts).toISOString()} by decision ${t.decisionId}; not rescored`,
        ),
      ],
      null,
    ),
    terminated: { score: t.score, model: t.model },
  });

  // A redelivered event gets what it got the first time: the recorded outcome, or (when nothing
  // was recorded and the state has moved on since) the policy's own outcome, which was an ALLOW.
  if (view.duplicate) {
    const seen = s.recent.find((r) => r[0] === action.event_id);
    if (seen) {
      return {
        ...keep(seen[1], seen[2], seen[4] ?? [...input.reasons]),
        ...(seen[5] !== undefined ? { score: seen[5] } : {}),
        published: seen[3] === 'api',
        repeat: true,
      };
    }
    if (input.withoutState && s.withoutState?.includes(action.event_id)) {
      const o = input.withoutState();
      return { ...keep(o.decision, o.rule, [...o.policyReasons]), score: 0, repeat: true };
    }
    // The state was saved at or after this event: it was decided and not recorded, so it was
    // answered from the terminated state or was an ALLOW.
    if (n <= s.asOf) {
      if (s.terminated && f.terminatedStaysTerminated && (s.terminated.n ?? -1) < n) {
        return { ...terminatedAnswer(s.terminated), repeat: true };
      }
      return { ...keep(base.decision, base.rule, [...input.reasons]), repeat: true };
    }
  }

  if (s.terminated && f.terminatedStaysTerminated) return terminatedAnswer(s.terminated);

  // A session whose state was lost: at least outage.stateLost until a step-up passes.
  if (input.stateLostNow && !s.lost) {
    s = { ...s, lost: { ts } };
    foundLost = true;
  }
  if (s.lost && input.afterStateLost && !STEP_UP_RESULTS.has(action.action)) {
    const raised = input.afterStateLost();
    if (raised !== base) {
      baseReasons = [...raised.policyReasons.filter((r) => !base.policyReasons.includes(r)), ...baseReasons];
      base = raised;
    }
  }

  const terminate = (from: FrictionState, rule: string, reasons: Reason[]): FrictionResult => {
    const terminated = { ts, n, decisionId: input.decisionId, score: input.score, model: input.modelVersion };
    return done(
      'TERMINATE',
      rule,
      reasons,
      record({ ...from, trust: null, terminated }, 'TERMINATE', rule, reasons),
    );
  };

  if (action.action === 'step_up_passed') {
    if (base.decision === 'TERMINATE') return terminate(s, base.rule, [...baseReasons]);
    const fps = s.trust && s.trust.until > ts ? s.trust.fps.filter((fp) => fp !== input.fpId) : [];
    const rule = 'friction.step_up_passed';
    const next: FrictionState = {
      ...s,
      lost: null,
      failures: 0,
      cooldown: {},
      trust: { until: ts + f.trustAfterStepUpMs, fps: [...fps, input.fpId].slice(-MAX_TRUSTED_FPS) },
    };
    const reasons = [
      reason(
        'STEP_UP_PASSED',
        `step-up passed from ${action.client.ip}: trusted from this client for ${Math.round(f.trustAfterStepUpMs / 60_000)} min`,
        0,
      ),
    ];
    return done('ALLOW', rule, reasons, record(next, 'ALLOW', rule, reasons));
  }

  if (action.action === 'step_up_failed') {
    const failures = s.failures + 1;
    const detail = `${failures} failed step-up${failures === 1 ? '' : 's'} in this session`;
    const next: FrictionState = { ...s, failures, trust: null };
    const reasons = [reason('STEP_UP_FAILED', detail), ...baseReasons];
    if (failures >= f.terminateAfter || base.decision === 'TERMINATE') {
      return terminate(next, 'friction.step_up_failed', reasons);
    }
    const decision = stricter(base.decision, f.escalateTo);
    const rule = 'friction.step_up_failed';
    return done(decision, rule, reasons, record(next, decision, rule, reasons));
  }

  if (base.decision === 'TERMINATE') return terminate(s, base.rule, [...baseReasons]);
  if (base.decision === 'ALLOW') return keep('ALLOW', base.rule, [...baseReasons]);

  // STEP_UP or BLOCK_ACTION.
  let decision: DecisionType = base.decision;
  let rule = base.rule;
  let reasons = [...baseReasons];
  let next: FrictionState = s;

  if (s.trust && s.trust.until > ts && s.trust.fps.includes(input.fpId)) {
    const t = input.trusted();
    decision = t.decision === 'STEP_UP' ? 'ALLOW' : t.decision;
    rule = 'friction.trusted_after_step_up';
    reasons = [
      reason(
        'TRUSTED_AFTER_STEP_UP',
        `a step-up passed from this client until ${new Date(s.trust.until).toISOString()}: ${base.decision} not applied`,
        0,
      ),
      ...t.policyReasons,
      ...reasons,
    ];
  } else if (decision === 'STEP_UP' && s.failures > 0) {
    decision = f.escalateTo;
    rule = 'friction.step_up_failed';
    reasons = [
      reason('STEP_UP_FAILED', `${s.failures} failed step-up(s) since the last passed one`),
      ...reasons,
    ];
  } else if (decision === 'STEP_UP') {
    const causes = reasons.length > 0 ? [...new Set(reasons.map((r) => r.code))] : ['*'];
    if (causes.every((c) => (s.cooldown[c] ?? -Infinity) > ts)) {
      decision = 'ALLOW';
      rule = 'friction.step_up_cooldown';
      reasons = [
        reason('STEP_UP_COOLDOWN', `already stepped up for ${causes.join(', ')} within the cooldown`, 0),
        ...reasons,
      ];
    } else {
      const cooldown: Record<string, number> = {};
      for (const [c, until] of Object.entries(s.cooldown)) if (until > ts) cooldown[c] = until;
      for (const c of causes) cooldown[c] = ts + f.stepUpCooldownMs;
      next = { ...s, cooldown };
    }
  }
  return done(decision, rule, reasons, record(next, decision, rule, reasons));
}

/** A decision made without the session's state (recordDecided). */
export interface DecidedWithoutState {
  eventId: string;
  /**
   * A plain answer without state (outage.withoutState) given on the stream: its id is all that is
   * kept (withoutState). Otherwise (the inline API's, or a terminated session's) the whole answer
   * goes into `recent`.
   */
  plain: boolean;
  ts: number;
  /** The event's arrival number, now that the store has it (view.arrival). */
  n: number;
  decision: DecisionType;
  rule: string;
  reasons: Reason[];
  score: number;
  origin: Origin;
  /** The store has lost the session's state (as FrictionInput.stateLostNow). */
  stateLostNow?: boolean;
}

/**
 * The catch-up of a decision made while the store did not answer (redis.outage=decide): once the
 * store has the event, its answer is recorded in the session's state, so a redelivered copy gets
 * that answer again instead of a score from a window it was never decided from. `repeat` when it
 * was recorded already (a catch-up that ran twice).
 */
export function recordDecided(state: FrictionState | null, d: DecidedWithoutState): FrictionResult {
  let s: FrictionState = state ?? EMPTY_FRICTION;
  if (d.stateLostNow && !s.lost) s = { ...s, lost: { ts: d.ts } };
  const repeat = d.plain
    ? (s.withoutState?.includes(d.eventId) ?? false)
    : s.recent.some((r) => r[0] === d.eventId);
  const asOf = Math.max(s.asOf, d.n);
  let next: FrictionState | null;
  if (repeat) next = s === state ? null : s;
  else if (d.plain)
    next = { ...s, asOf, withoutState: [...(s.withoutState ?? []), d.eventId].slice(-WITHOUT_STATE) };
  else {
    const entry: RecentOutcome = [d.eventId, d.decision, d.rule, d.origin, d.reasons, d.score];
    next = { ...s, asOf, recent: [...s.recent, entry].slice(-RECENT) };
  }
  return {
    decision: d.decision,
    rule: d.rule,
    reasons: d.reasons,
    terminated: null,
    score: d.score,
    next,
    published: false,
    repeat,
  };
}
