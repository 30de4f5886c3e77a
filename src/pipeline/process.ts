import crypto from 'node:crypto';
import type { DeadLetter, Decision, RawRecord, SessionAction, SessionStore, WindowView } from '../contract';
import { FEATURE_COUNT, extractBatch } from '../features/extract';
import { REASON_GROUP_FEATURES, reasonsFromContributions, round4 } from '../features/reasons';
import { timeStage, timeStageSync, type Metrics } from '../metrics/metrics';
import { decide, type PolicySettings } from '../policy/decide';
import { toActionInput } from '../state/input';

/** What the pipeline needs of a model: one batched call to score, one to explain. */
export interface ScoringModel {
  readonly version: string;
  score(x: Float32Array, rows: number): Promise<Float32Array>;
  /** Per-row, per-group logit drop when the group's features are zeroed (rows x groups). */
  contributions(x: Float32Array, rows: number, groups: readonly (readonly number[])[]): Promise<Float32Array>;
}

export type DecodeResult = { ok: true; action: SessionAction } | { ok: false; deadLetter: DeadLetter };

export interface PipelineDeps {
  decode: (raw: RawRecord, now: number) => DecodeResult;
  store: SessionStore;
  /** The model to use for the next batch: read once per batch, so a swap never splits a batch. */
  model: () => ScoringModel;
  /**
   * A shadow model (or null), read with `model`: it scores the same rows, and what it would have
   * decided comes back in BatchResult.shadow; it never changes a decision.
   */
  shadow?: () => ScoringModel | null;
  policy: PolicySettings;
  metrics?: Metrics;
  now?: () => number;
}

export type Outcome =
  | { kind: 'decision'; decision: Decision; duplicate: boolean; rule: string; shadow?: Decision }
  | { kind: 'dead_letter'; deadLetter: DeadLetter };

export interface BatchResult {
  /** One outcome per input record, in input order. */
  outcomes: Outcome[];
  decisions: Decision[];
  deadLetters: DeadLetter[];
  duplicates: number;
  /** With a shadow model: what it would have decided, aligned with `decisions` (policy reasons only). */
  shadow?: Decision[];
}

const DECISION_NAMESPACE = 'risk-stream/decision/v1:';

/** Deterministic decision id: a name-based (v5-style) UUID of the event id. */
export function decisionId(eventId: string): string {
  const h = crypto.hash('sha1', DECISION_NAMESPACE + eventId, 'buffer');
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * Runs every stage for one batch. Creates no clients: the store, model and decoder are passed in,
 * so the Kafka engine, the embedded demo and offline replay run exactly this code.
 *
 * `processBatch` decodes and hands the batch to the store before it returns, and only then waits.
 * A caller may therefore begin the next batch while this one is still being scored (the Kafka
 * engine does): the store applies batches in the order they were begun.
 */
export function createPipeline(deps: PipelineDeps) {
  const now = deps.now ?? Date.now;
  const { metrics, policy } = deps;

  interface Valid {
    index: number;
    action: SessionAction;
  }

  function collect(all: Outcome[], duplicates: number): BatchResult {
    const decisions: Decision[] = [];
    const deadLetters: DeadLetter[] = [];
    const shadow: Decision[] = [];
    for (const o of all) {
      if (o.kind === 'decision') {
        decisions.push(o.decision);
        if (o.shadow) shadow.push(o.shadow);
      } else deadLetters.push(o.deadLetter);
    }
    return { outcomes: all, decisions, deadLetters, duplicates, ...(shadow.length > 0 ? { shadow } : {}) };
  }

  /** Every stage after the store: features, one model call, policy, reasons for the flagged rows. */
  async function score(
    valid: readonly Valid[],
    outcomes: (Outcome | undefined)[],
    pendingViews: Promise<WindowView[]>,
  ): Promise<BatchResult> {
    const views = await pendingViews;
    const items = valid.map((v, i) => ({ view: views[i] as WindowView, action: v.action }));
    const x = timeStageSync(metrics, 'features', () => extractBatch(items));
    const model = deps.model();
    const shadowModel = deps.shadow?.() ?? null;
    const scores = await timeStage(metrics, 'model', () => model.score(x, items.length));
    const shadowScores = shadowModel
      ? await timeStage(metrics, 'shadow', () => shadowModel.score(x, items.length))
      : null;

    const verdicts = items.map((item, i) => decide(scores[i] as number, item.action, item.view, policy));
    const flagged = verdicts.flatMap((v, i) => (v.decision === 'ALLOW' ? [] : [i]));
    const contrib = await timeStage(metrics, 'explain', async () => {
      if (flagged.length === 0) return new Float32Array(0);
      const sub = new Float32Array(flagged.length * FEATURE_COUNT);
      flagged.forEach((row, k) =>
        sub.set(x.subarray(row * FEATURE_COUNT, (row + 1) * FEATURE_COUNT), k * FEATURE_COUNT),
      );
      return model.contributions(sub, flagged.length, REASON_GROUP_FEATURES);
    });
    const flaggedRow = new Map(flagged.map((row, k) => [row, k]));

    const decidedAt = now();
    let duplicates = 0;
    items.forEach((item, i) => {
      const verdict = verdicts[i]!;
      const { action, view } = item;
      if (view.duplicate) duplicates++;
      const k = flaggedRow.get(i);
      const reasons =
        k === undefined
          ? []
          : [
              ...verdict.policyReasons,
              ...reasonsFromContributions(contrib, k, view, action, {
                maxReasons: policy.maxReasons,
                minWeight: policy.minReasonWeight,
              }),
            ].slice(0, Math.max(policy.maxReasons, verdict.policyReasons.length));
      const decision: Decision = {
        decision_id: decisionId(action.event_id),
        event_id: action.event_id,
        session_id: action.session_id,
        user_id: action.user_id,
        app: action.app,
        event_ts: action.ts,
        decided_at: decidedAt,
        decision: verdict.decision,
        score: round4(scores[i] as number),
        model_version: model.version,
        reasons,
      };
      let shadow: Decision | undefined;
      if (shadowModel && shadowScores) {
        const sv = decide(shadowScores[i] as number, action, view, policy);
        shadow = {
          ...decision,
          decision: sv.decision,
          score: round4(shadowScores[i] as number),
          model_version: shadowModel.version,
          reasons: sv.policyReasons,
        };
      }
      outcomes[valid[i]!.index] = {
        kind: 'decision',
        duplicate: view.duplicate,
        rule: verdict.rule,
        decision,
        ...(shadow ? { shadow } : {}),
      };
    });
    return collect(outcomes as Outcome[], duplicates);
  }

  return function processBatch(records: readonly RawRecord[]): Promise<BatchResult> {
    const started = now();
    const outcomes: (Outcome | undefined)[] = new Array(records.length);
    const valid: Valid[] = [];
    timeStageSync(metrics, 'decode', () => {
      records.forEach((raw, index) => {
        const r = deps.decode(raw, started);
        if (r.ok) valid.push({ index, action: r.action });
        else outcomes[index] = { kind: 'dead_letter', deadLetter: r.deadLetter };
      });
    });
    if (valid.length === 0) return Promise.resolve(collect(outcomes as Outcome[], 0));
    // timeStage calls applyBatch before it returns: the batch is with the store from here on.
    const views = timeStage(metrics, 'state', () =>
      deps.store.applyBatch(valid.map((v) => toActionInput(v.action))),
    );
    return score(valid, outcomes, views);
  };
}

export type ProcessBatch = ReturnType<typeof createPipeline>;
