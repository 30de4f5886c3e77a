/**
 * What `risk-stream evaluate` measures, from labelled events and the engine's decisions on them:
 * event-level curves, per-scenario detection (sessions, within the first attacker actions), benign
 * friction per kind, and the targets. Pure: no files, no model.
 */
import type { Decision } from '../contract';
import { averagePrecision, rocAuc } from './metrics';

export interface EvalLabel {
  event_id: string;
  session_id: string;
  /** 1: an attacker's (or misusing) action. */
  label: number;
  scenario: string;
  /** 'attacker' for the actions of whoever replayed the token. */
  actor?: string;
}

export interface CurvePoint {
  x: number;
  y: number;
}

export interface ScenarioDetection {
  scenario: string;
  sessions: number;
  /** Sessions with a non-ALLOW decision on at least one labelled action. */
  detected: number;
  /** ... within the first `within` labelled actions. */
  detectedWithin: number;
  /** Labelled actions up to and including the first non-ALLOW one, per detected session: median. */
  medianActionsToDetect: number | null;
}

export interface BenignFriction {
  scenario: string;
  sessions: number;
  /** Sessions that saw any STEP_UP, BLOCK_ACTION or TERMINATE. */
  withFriction: number;
  /**
   * ... from the model's score: at least one of them without a policy rule's reason (a mass export
   * is never simply allowed, whatever the score). The rest is the policy's friction, by design.
   */
  byModel: number;
  terminated: number;
}

/** Reason codes of rules that act whatever the score. */
const RULE_REASONS: ReadonlySet<string> = new Set(['MASS_EXPORT']);

export interface Target {
  name: string;
  value: number;
  goal: string;
  met: boolean;
}

export interface Evaluation {
  events: number;
  positives: number;
  auc: number | null;
  averagePrecision: number | null;
  roc: CurvePoint[];
  pr: CurvePoint[];
  /** Score histogram: `bins` equal-width bins over [0, 1], counts of benign and attack events. */
  histogram: { bins: number; benign: number[]; attack: number[] };
  /** Attacker actions counted for "within": the issue asks for the first 3. */
  within: number;
  attacks: ScenarioDetection[];
  benign: BenignFriction[];
  targets: Target[];
  /** Events in the labels without a decision (dead-lettered input): they count nowhere. */
  undecided: number;
}

const REPLAY = /^replay_/;
const MISUSE = new Set(['insider_export']);

/** ROC points (false positive rate, true positive rate), thresholds from high to low, at most ~200. */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): CurvePoint[] {
  return sweep(scores, labels, (tp, fp, pos, neg) => ({ x: neg ? fp / neg : 0, y: pos ? tp / pos : 0 }));
}

/** Precision-recall points (recall, precision), thresholds from high to low. */
export function prCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): CurvePoint[] {
  return sweep(scores, labels, (tp, fp, pos) => ({
    x: pos ? tp / pos : 0,
    y: tp + fp ? tp / (tp + fp) : 1,
  })).slice(1);
}

function sweep(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  point: (tp: number, fp: number, pos: number, neg: number) => CurvePoint,
): CurvePoint[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let pos = 0;
  for (let i = 0; i < labels.length; i++) pos += labels[i] === 1 ? 1 : 0;
  const neg = labels.length - pos;
  const out = [point(0, 0, pos, neg)];
  const step = Math.max(1, Math.floor(order.length / 200));
  let tp = 0;
  let fp = 0;
  let pushedAt = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (labels[i] === 1) tp++;
    else fp++;
    // A point per distinct score (tied scores share a threshold), thinned to ~200.
    const last = k === order.length - 1;
    if ((last || scores[order[k + 1]!] !== scores[i]) && (last || k + 1 - pushedAt >= step)) {
      out.push(point(tp, fp, pos, neg));
      pushedAt = k + 1;
    }
  }
  return out;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * `labels` in event order (the order the engine saw them), `decisions` by event id. Targets are
 * the issue's: token replay answered within the first 3 attacker actions >= 97%, valid-fingerprint
 * misuse answered >= 90%, benign sessions with any friction <= 1%, benign sessions terminated <= 0.1%.
 */
export function evaluate(
  labels: readonly EvalLabel[],
  decisions: ReadonlyMap<string, Decision>,
  within = 3,
): Evaluation {
  const scores: number[] = [];
  const y: number[] = [];
  const bins = 20;
  const histogram = {
    bins,
    benign: new Array<number>(bins).fill(0),
    attack: new Array<number>(bins).fill(0),
  };
  let undecided = 0;
  interface SessionState {
    scenario: string;
    attack: boolean;
    labelled: number;
    firstHit: number | null;
    friction: boolean;
    byModel: boolean;
    terminated: boolean;
  }
  const sessions = new Map<string, SessionState>();
  for (const l of labels) {
    const d = decisions.get(l.event_id);
    if (!d) {
      undecided++;
      continue;
    }
    scores.push(d.score);
    y.push(l.label === 1 ? 1 : 0);
    const bin = Math.min(bins - 1, Math.floor(d.score * bins));
    (l.label === 1 ? histogram.attack : histogram.benign)[bin]!++;
    let s = sessions.get(l.session_id);
    if (!s) {
      s = {
        scenario: l.scenario,
        attack: false,
        labelled: 0,
        firstHit: null,
        friction: false,
        byModel: false,
        terminated: false,
      };
      sessions.set(l.session_id, s);
    }
    const flagged = d.decision !== 'ALLOW';
    if (l.label === 1) {
      s.attack = true;
      s.labelled++;
      if (flagged && s.firstHit === null) s.firstHit = s.labelled;
    } else {
      if (flagged) s.friction = true;
      if (flagged && !d.reasons.some((r) => RULE_REASONS.has(r.code))) s.byModel = true;
      if (d.decision === 'TERMINATE') s.terminated = true;
    }
  }

  const attackBy = new Map<string, SessionState[]>();
  const benignBy = new Map<string, SessionState[]>();
  for (const s of sessions.values()) {
    const m = s.attack ? attackBy : benignBy;
    m.set(s.scenario, [...(m.get(s.scenario) ?? []), s]);
  }
  const attacks: ScenarioDetection[] = [...attackBy.entries()].sort().map(([scenario, ss]) => ({
    scenario,
    sessions: ss.length,
    detected: ss.filter((s) => s.firstHit !== null).length,
    detectedWithin: ss.filter((s) => s.firstHit !== null && s.firstHit <= within).length,
    medianActionsToDetect: median(ss.flatMap((s) => (s.firstHit === null ? [] : [s.firstHit]))),
  }));
  // Benign: sessions of benign kinds, and the benign part of nothing else (attack sessions' victim
  // actions before the takeover are the victim's, but friction there is not counted as benign).
  const benign: BenignFriction[] = [...benignBy.entries()].sort().map(([scenario, ss]) => ({
    scenario,
    sessions: ss.length,
    withFriction: ss.filter((s) => s.friction).length,
    byModel: ss.filter((s) => s.byModel).length,
    terminated: ss.filter((s) => s.terminated).length,
  }));

  const share = (rows: { n: number; k: number }[]) => {
    const n = rows.reduce((a, r) => a + r.n, 0);
    return n === 0 ? 0 : rows.reduce((a, r) => a + r.k, 0) / n;
  };
  const replay = share(
    attacks.filter((a) => REPLAY.test(a.scenario)).map((a) => ({ n: a.sessions, k: a.detectedWithin })),
  );
  const misuse = share(
    attacks.filter((a) => MISUSE.has(a.scenario)).map((a) => ({ n: a.sessions, k: a.detected })),
  );
  const friction = share(benign.map((b) => ({ n: b.sessions, k: b.withFriction })));
  const terminated = share(benign.map((b) => ({ n: b.sessions, k: b.terminated })));
  const targets: Target[] = [
    {
      name: `token replay answered within the first ${within} attacker actions`,
      value: replay,
      goal: '>= 97%',
      met: replay >= 0.97,
    },
    { name: 'valid-fingerprint misuse answered', value: misuse, goal: '>= 90%', met: misuse >= 0.9 },
    { name: 'benign sessions with any friction', value: friction, goal: '<= 1%', met: friction <= 0.01 },
    { name: 'benign sessions terminated', value: terminated, goal: '<= 0.1%', met: terminated <= 0.001 },
  ];

  return {
    events: scores.length,
    positives: y.reduce((a, b) => a + b, 0),
    auc: rocAuc(scores, y),
    averagePrecision: averagePrecision(scores, y),
    roc: rocCurve(scores, y),
    pr: prCurve(scores, y),
    histogram,
    within,
    attacks,
    benign,
    targets,
    undecided,
  };
}
