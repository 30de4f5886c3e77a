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
