/**
 * Pure binary-classifier metrics over scores in [0, 1] and 0/1 labels. A metric that is undefined
 * for the data (no positives, no negatives, no rows) is null, never NaN, so it survives JSON.
 */

export type Scores = ArrayLike<number>;
export type Labels = ArrayLike<number>;

export interface ThresholdStats {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** tp / (tp + fp); null when nothing is flagged. */
  precision: number | null;
  /** tp / (tp + fn); null when there are no positives. */
  recall: number | null;
  /** fp / (fp + tn); null when there are no negatives. */
  fpr: number | null;
}

export interface BinaryMetrics {
  rows: number;
  positives: number;
  roc_auc: number | null;
  /** Average precision: the step-wise area under the precision-recall curve. */
  pr_auc: number | null;
  log_loss: number | null;
  at: ThresholdStats[];
}

export const DEFAULT_THRESHOLDS: readonly number[] = [0.5, 0.7, 0.9];

/** Probabilities are clipped this far from 0 and 1, since a float32 sigmoid can return exactly 1. */
export const LOG_LOSS_EPS = 1e-7;

function check(scores: Scores, labels: Labels): void {
  if (scores.length !== labels.length) {
    throw new Error(`scores (${scores.length}) and labels (${labels.length}) differ in length`);
  }
}

function countPositives(labels: Labels): number {
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) p++;
  return p;
}

/** Indices sorted by score, descending; the sort is stable so ties keep input order. */
function byScoreDesc(scores: Scores): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => (scores[b] as number) - (scores[a] as number));
}

/**
 * ROC AUC as the Mann-Whitney statistic: the probability that a random positive scores above a
 * random negative, ties counting one half.
 */
export function rocAuc(scores: Scores, labels: Labels): number | null {
  check(scores, labels);
  const pos = countPositives(labels);
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return null;
  const order = byScoreDesc(scores);
  // Walk tie groups from the top: each positive beats every negative below its group and ties
  // with the negatives inside it.
  let negBelow = neg;
  let wins = 0;
  for (let i = 0; i < order.length;) {
    const s = scores[order[i] as number];
    let p = 0;
    let n = 0;
    for (; i < order.length && scores[order[i] as number] === s; i++) {
      if (labels[order[i] as number] === 1) p++;
      else n++;
    }
    negBelow -= n;
    wins += p * negBelow + 0.5 * p * n;
  }
  return wins / (pos * neg);
}

/** Average precision: sum over distinct thresholds of (recall gain) x (precision there). */
export function averagePrecision(scores: Scores, labels: Labels): number | null {
  check(scores, labels);
  const pos = countPositives(labels);
  if (pos === 0) return null;
  const order = byScoreDesc(scores);
  let tp = 0;
  let fp = 0;
  let ap = 0;
  for (let i = 0; i < order.length;) {
    const s = scores[order[i] as number];
    let groupTp = 0;
    for (; i < order.length && scores[order[i] as number] === s; i++) {
      if (labels[order[i] as number] === 1) groupTp++;
      else fp++;
    }
    tp += groupTp;
    ap += (groupTp / pos) * (tp / (tp + fp));
  }
  // The recall steps sum to 1 only up to rounding; keep the result a valid rate.
  return Math.min(1, ap);
}

/** Mean binary cross-entropy in nats. */
export function logLoss(scores: Scores, labels: Labels, eps = LOG_LOSS_EPS): number | null {
  check(scores, labels);
  if (scores.length === 0) return null;
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, scores[i] as number));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / scores.length;
}

/** Confusion counts when a score at or above `threshold` is flagged. */
export function atThreshold(scores: Scores, labels: Labels, threshold: number): ThresholdStats {
  check(scores, labels);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = (scores[i] as number) >= threshold;
    if (labels[i] === 1) {
      if (flagged) tp++;
      else fn++;
    } else if (flagged) fp++;
    else tn++;
  }
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    precision: tp + fp === 0 ? null : tp / (tp + fp),
    recall: tp + fn === 0 ? null : tp / (tp + fn),
    fpr: fp + tn === 0 ? null : fp / (fp + tn),
  };
}

export function evaluateBinary(
  scores: Scores,
  labels: Labels,
  thresholds: readonly number[] = DEFAULT_THRESHOLDS,
): BinaryMetrics {
  return {
    rows: scores.length,
    positives: countPositives(labels),
    roc_auc: rocAuc(scores, labels),
    pr_auc: averagePrecision(scores, labels),
    log_loss: logLoss(scores, labels),
    at: thresholds.map((t) => atThreshold(scores, labels, t)),
  };
}

/**
 * Expected calibration error: scores put in `bins` equal-width bins; the row-weighted mean gap
 * between each bin's mean score and its share of positives. 0 is perfectly calibrated.
 */
export function calibrationError(scores: Scores, labels: Labels, bins = 10): number | null {
  check(scores, labels);
  if (scores.length === 0) return null;
  const n = new Array<number>(bins).fill(0);
  const sum = new Array<number>(bins).fill(0);
  const pos = new Array<number>(bins).fill(0);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i] as number;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(s * bins)));
    n[b] = (n[b] as number) + 1;
    sum[b] = (sum[b] as number) + s;
    if (labels[i] === 1) pos[b] = (pos[b] as number) + 1;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (n[b]! > 0) ece += Math.abs(sum[b]! - pos[b]!);
  return ece / scores.length;
}

export interface Platt {
  /** Calibrated logit = a * logit + b. */
  a: number;
  b: number;
}

/**
 * Platt scaling: the a, b minimising the log loss of sigmoid(a * logit + b) against the labels,
 * by Newton's method (a two-parameter logistic regression; converges in a few steps). Targets are
 * smoothed as Platt proposed, so a separable validation set cannot drive a to infinity.
 */
export function fitPlatt(logits: Scores, labels: Labels, iterations = 100): Platt {
  check(logits, labels);
  const pos = countPositives(labels);
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return { a: 1, b: 0 };
  const hi = (pos + 1) / (pos + 2);
  const lo = 1 / (neg + 2);
  const target = (i: number) => (labels[i] === 1 ? hi : lo);
  const loss = (a: number, b: number) => {
    let sum = 0;
    for (let i = 0; i < logits.length; i++) {
      const u = a * (logits[i] as number) + b;
      // log(1 + e^u) - t u, computed without overflow
      sum += Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u))) - target(i) * u;
    }
    return sum;
  };
  let a = 1;
  let b = 0;
  let current = loss(a, b);
  for (let it = 0; it < iterations; it++) {
    let ga = 0;
    let gb = 0;
    let haa = 0;
    let hab = 0;
    let hbb = 0;
    for (let i = 0; i < logits.length; i++) {
      const z = logits[i] as number;
      const p = 1 / (1 + Math.exp(-(a * z + b)));
      const d = p - target(i);
      const w = Math.max(p * (1 - p), 1e-12);
      ga += d * z;
      gb += d;
      haa += w * z * z;
      hab += w * z;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 1e-12)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    // Newton's step, halved until the loss goes down (plain Newton can overshoot).
    let step = 1;
    let next = loss(a - da, b - db);
    while (!(next < current) && step > 1e-6) {
      step /= 2;
      next = loss(a - step * da, b - step * db);
    }
    if (!(next < current)) break;
    a -= step * da;
    b -= step * db;
    const gain = current - next;
    current = next;
    if (gain < 1e-10 * logits.length) break;
  }
  return { a, b };
}
