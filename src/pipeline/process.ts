import type {
  ActionInput,
  DeadLetter,
  Decision,
  RawRecord,
  Reason,
  SessionAction,
  SessionStore,
  WindowView,
} from '../contract';
import { chainEvidence, changedParts, newParts, type EvidenceRecord } from '../evidence/record';
import { FEATURE_COUNT, FEATURE_NAMES, extractBatch } from '../features/extract';
import { REASON_GROUP_FEATURES, describe, reasonsFromContributions, round4 } from '../features/reasons';
import { timeStage, timeStageSync, type Metrics } from '../metrics/metrics';
import type { CompiledPolicy } from '../policy/compile';
import { atLeastAfterStateLost, decide, decideWithoutState } from '../policy/decide';
import {
  EMPTY_FRICTION,
  applyFriction,
  parseFriction,
  recordDecided,
  type FrictionState,
  type Origin,
} from '../policy/friction';
import { SENSITIVITIES, type Sensitivity } from '../policy/schema';
import { toActionInput } from '../state/input';
import { decideDegraded } from './degraded';
import { decisionHeader, decisionId, nameUuid } from './ids';
import { storeUnavailable, type DegradedEntry, type StoreOutage } from './outage';

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
  /** The policy for the next batch: read once per batch, like the model (hot reload). */
  policy: () => CompiledPolicy;
  /** How many reasons a decision carries, and the smallest weight worth naming. */
  explain: { maxReasons: number; minReasonWeight: number };
  /** Evidence records for non-ALLOW decisions and actions at least this sensitive; null: none. */
  evidence?: { minSensitivity: Sensitivity } | null;
  /** Keep timeline entries and the recent-decisions index (settled with the batch). */
  timeline?: boolean;
  /**
   * Redis outages: whether decisions are made without the store now (redis.outage=decide), and
   * the journal of those decisions, which the next batch to reach the store catches up on.
   */
  outage?: StoreOutage;
  metrics?: Metrics;
  now?: () => number;
}

export type Outcome =
  | {
      kind: 'decision';
      decision: Decision;
      duplicate: boolean;
      rule: string;
      shadow?: Decision;
    }
  | { kind: 'dead_letter'; deadLetter: DeadLetter };

export interface BatchResult {
  /** One outcome per input record, in input order. */
  outcomes: Outcome[];
  decisions: Decision[];
  deadLetters: DeadLetter[];
  duplicates: number;
  /** With a shadow model: what it would have decided, aligned with `decisions` (policy reasons only). */
  shadow?: Decision[];
  /** Decision ids of redelivered events the inline API already published: not to be written again. */
  published?: ReadonlySet<string>;
  /** Evidence records of this batch, to be written with its decisions (audit topic). */
  evidence?: EvidenceRecord[];
  /** Decided without the session store (redis.outage=decide): riskstream_degraded_decisions_total. */
  degraded?: boolean;
  /**
   * Stores what this batch's decisions changed in the sessions' policy state. Call it once the
   * decisions are durable (after the sink acknowledged), before committing input: a crash in
   * between re-decides the batch from the state it was first decided from.
   */
  settle?: () => Promise<void>;
}

export interface ProcessOptions {
  /**
   * `api` for the inline evaluation API, which publishes its decisions itself: its non-ALLOW
   * answers are recorded, so the same action arriving on Kafka later is not published twice.
   */
  origin?: Origin;
  /** With `api`: record ALLOW answers too (they are published: kafka.emitAllow). */
  recordAllow?: boolean;
  /** Make evidence records (only for a caller that writes them, or the chain would have gaps). @default true */
  evidence?: boolean;
}

/** Journal entries (decisions made without the store) one batch carries to the store at most. */
const CATCH_UP = 2000;

/** Sessions whose policy state this process changed lately, newest kept (see `createPipeline`). */
const OVERLAY_SESSIONS = 50_000;

/** RawRecord.source of actions sent to the inline API (POST /v1/evaluate): always JSON. */
export const INLINE_SOURCE = 'http:/v1/evaluate';

const EVIDENCE_NAMESPACE = 'risk-stream/evidence/v1:';
const rank = (s: Sensitivity) => SENSITIVITIES.indexOf(s);
const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

export { decisionId };

/**
 * A session whose window hit a cap (distinct sets, recent-action ring) is scored on lower bounds:
 * each of its decisions says so, after the reasons that drove it and beyond maxReasons, so it is
 * never cut. Taken from the view, so a redelivered event gets it again.
 */
function withCapNote(reasons: Reason[], view: WindowView, action: SessionAction): Reason[] {
  if (!view.capped) return reasons;
  return [...reasons, { code: 'STATE_CAPPED', detail: describe('STATE_CAPPED', view, action), weight: 0 }];
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
  const { metrics, explain } = deps;
  /**
   * The latest policy state this process computed per session. A batch reads the store's copy in
   * its own round trip, which may have left before an earlier batch's state was saved (batches
   * overlap); whichever of the two is newer (asOf) is used. Bounded: least recently changed first out.
   */
  const overlay = new Map<string, FrictionState>();
  /**
   * Friction control runs one batch at a time, in the order the batches were begun: a batch begun
   * after another reads the states that one computed, also while both are being scored at once
   * (the inline API and the Kafka path overlap). Resolves when the last begun batch is through.
   */
  let frictionTurn: Promise<void> = Promise.resolve();
  const remember = (sessionId: string, state: FrictionState) => {
    overlay.delete(sessionId);
    overlay.set(sessionId, state);
    if (overlay.size > OVERLAY_SESSIONS) overlay.delete(overlay.keys().next().value as string);
  };

  interface Valid {
    /** Position in the batch; -1 for a catch-up entry (decided earlier without state). */
    index: number;
    action: SessionAction;
    input: ActionInput;
    /** A catch-up entry: its decision, made while the store did not answer. */
    recorded?: DegradedEntry;
  }

  function collect(
    all: Outcome[],
    duplicates: number,
    settle?: () => Promise<void>,
    published?: ReadonlySet<string>,
    evidence?: EvidenceRecord[],
  ): BatchResult {
    const decisions: Decision[] = [];
    const deadLetters: DeadLetter[] = [];
    const shadow: Decision[] = [];
    for (const o of all) {
      if (o.kind === 'decision') {
        decisions.push(o.decision);
        if (o.shadow) shadow.push(o.shadow);
      } else deadLetters.push(o.deadLetter);
    }
    return {
      outcomes: all,
      decisions,
      deadLetters,
      duplicates,
      ...(shadow.length > 0 ? { shadow } : {}),
      ...(settle ? { settle } : {}),
      ...(published && published.size > 0 ? { published } : {}),
      ...(evidence && evidence.length > 0 ? { evidence } : {}),
    };
  }

  /** Every stage after the store: features, one model call, policy, reasons, friction control. */
  async function score(
    valid: readonly Valid[],
    outcomes: (Outcome | undefined)[],
    pendingViews: Promise<WindowView[]>,
    sessionIds: readonly string[],
    pendingPolicy: Promise<(string | null)[]>,
    origin: Origin,
    recordAllow: boolean,
    withEvidence: boolean,
    myTurn: Promise<void>,
  ): Promise<BatchResult> {
    const [views, stored] = await Promise.all([pendingViews, pendingPolicy]);
    const policy = deps.policy();
    const states = new Map<string, FrictionState | null>();
    const readStates = () =>
      sessionIds.forEach((id, k) => {
        const fromStore = parseFriction(stored[k]);
        const mine = overlay.get(id);
        states.set(id, mine && (!fromStore || mine.asOf > fromStore.asOf) ? mine : fromStore);
      });
    // Read now to leave terminated sessions unscored; read again once earlier batches are through.
    readStates();
    const items = valid.map((v, i) => ({ view: views[i] as WindowView, action: v.action }));

    // A session terminated before this batch is answered without rescoring.
    const final = policy.friction.terminatedStaysTerminated;
    const scoredRows = items.flatMap((item, i) =>
      valid[i]!.recorded || (final && !item.view.duplicate && states.get(item.action.session_id)?.terminated)
        ? []
        : [i],
    );
    const x = timeStageSync(metrics, 'features', () => extractBatch(scoredRows.map((i) => items[i]!)));
    const model = deps.model();
    const shadowModel = deps.shadow?.() ?? null;
    const rowScores = await timeStage(metrics, 'model', () => model.score(x, scoredRows.length));
    const shadowRowScores = shadowModel
      ? await timeStage(metrics, 'shadow', () => shadowModel.score(x, scoredRows.length))
      : null;
    const scores = new Float32Array(items.length);
    const shadowScores = shadowRowScores ? new Float32Array(items.length) : null;
    const xRow = new Int32Array(items.length).fill(-1);
    scoredRows.forEach((row, k) => {
      scores[row] = rowScores[k] as number;
      if (shadowScores && shadowRowScores) shadowScores[row] = shadowRowScores[k] as number;
      xRow[row] = k;
    });

    const verdicts = items.map(
      (item, i) => valid[i]!.recorded?.outcome ?? decide(scores[i] as number, item.action, item.view, policy),
    );
    const flagged = scoredRows.filter((i) => verdicts[i]!.decision !== 'ALLOW');
    const contrib = await timeStage(metrics, 'explain', async () => {
      if (flagged.length === 0) return new Float32Array(0);
      const sub = new Float32Array(flagged.length * FEATURE_COUNT);
      flagged.forEach((row, k) => {
        const r = xRow[row] as number;
        sub.set(x.subarray(r * FEATURE_COUNT, (r + 1) * FEATURE_COUNT), k * FEATURE_COUNT);
      });
      return model.contributions(sub, flagged.length, REASON_GROUP_FEATURES);
    });
    const flaggedRow = new Map(flagged.map((row, k) => [row, k]));
    await myTurn;
    readStates();

    const decidedAt = now();
    // After the store lost its state: a session that begins again (its first event as far as the
    // store knows, not a new window after a logout or an idle gap) with anything but a login went
    // on without its history (outage.stateLost).
    const lostAt = deps.store.stateLostAt?.() ?? null;
    const stateLost = ({ view, action }: { view: WindowView; action: SessionAction }) =>
      lostAt !== null && view.n === 0 && view.arrival === 0 && !view.duplicate && action.action !== 'login';
    let duplicates = 0;
    const writes = new Map<string, FrictionState>();
    const published = new Set<string>();
    const evidence: EvidenceRecord[] = [];
    const timeline: { sessionId: string; n: number; entry: string }[] = [];
    const indexed: string[] = [];
    const evidencePolicy = withEvidence ? deps.evidence : null;
    items.forEach((item, i) => {
      const verdict = verdicts[i]!;
      const { action, view } = item;
      const recorded = valid[i]!.recorded;
      const lostNow = stateLost(item);
      if (lostNow) metrics?.lostSessions.inc();
      if (recorded ? valid[i]!.index >= 0 : view.duplicate) duplicates++;
      const k = flaggedRow.get(i);
      const reasons =
        k === undefined
          ? verdict.policyReasons
          : [
              ...verdict.policyReasons,
              ...reasonsFromContributions(contrib, k, view, action, {
                maxReasons: explain.maxReasons,
                minWeight: explain.minReasonWeight,
              }),
            ].slice(0, Math.max(explain.maxReasons, verdict.policyReasons.length));
      const id = decisionId(action.event_id);
      const state = states.get(action.session_id) ?? null;
      const f = recorded
        ? recordDecided(state, {
            eventId: action.event_id,
            plain: recorded.origin === 'stream' && recorded.decision.policy_rule === recorded.outcome.rule,
            ts: action.ts,
            n: view.arrival,
            decision: recorded.decision.decision,
            rule: recorded.decision.policy_rule ?? verdict.rule,
            reasons: recorded.decision.reasons,
            score: recorded.decision.score,
            origin: recorded.origin,
            stateLostNow: lostNow,
          })
        : applyFriction(
            state,
            {
              action,
              view,
              fpId: valid[i]!.input.ids.fp,
              decisionId: id,
              score: round4(scores[i] as number),
              modelVersion: model.version,
              base: verdict,
              reasons,
              trusted: () => decide(scores[i] as number, action, view, policy, 'none'),
              stateLostNow: lostNow,
              afterStateLost: () => atLeastAfterStateLost(verdict, action, policy),
              withoutState: () => decideWithoutState(action, policy),
              origin,
              recordAllow,
            },
            policy.friction,
          );
      if (f.published) published.add(id);
      let next = f.next;
      const decision: Decision = recorded
        ? recorded.decision
        : {
            ...decisionHeader(action, id, decidedAt),
            decision: f.decision,
            score: f.terminated ? f.terminated.score : (f.score ?? round4(scores[i] as number)),
            model_version: f.terminated ? f.terminated.model : model.version,
            reasons: withCapNote(
              f.reasons.slice(0, Math.max(explain.maxReasons, verdict.policyReasons.length)),
              view,
              action,
            ),
            action: action.action,
            policy_version: policy.id,
            policy_rule: f.rule,
          };
      // What an analyst and an auditor see of it: once per action (not for a redelivered one).
      let sealed: { seq: number; hash: string } | null = null;
      if (!f.repeat && (evidencePolicy || deps.timeline)) {
        const fp = valid[i]!.input.fp;
        const fingerprint = {
          id: valid[i]!.input.ids.fp,
          changed: changedParts(fp, view.prev),
          new_to_session: newParts(view.seen, view.prev === null),
        };
        if (
          evidencePolicy &&
          (f.decision !== 'ALLOW' || rank(verdict.sensitivity) >= rank(evidencePolicy.minSensitivity))
        ) {
          const r = xRow[i] as number;
          const from = next ?? states.get(action.session_id) ?? EMPTY_FRICTION;
          const { record, head } = chainEvidence(from.chain ?? null, {
            evidence_id: nameUuid(EVIDENCE_NAMESPACE + id),
            session_id: action.session_id,
            user_id: action.user_id,
            decision_id: id,
            event_id: action.event_id,
            event_ts: action.ts,
            decided_at: decision.decided_at,
            action,
            fingerprint,
            sensitivity: verdict.sensitivity,
            // Not scored, or scored but answered from the terminated state (whether it was scored
            // depends on where the batch began, which a redelivery changes).
            features:
              r < 0 || f.terminated
                ? null
                : Object.fromEntries(
                    FEATURE_NAMES.map((name, j) => [name, round6(x[r * FEATURE_COUNT + j] as number)]),
                  ),
            score: decision.score,
            model_version: decision.model_version,
            policy_version: decision.policy_version ?? policy.id,
            policy_rule: f.rule,
            decision: f.decision,
            reasons: decision.reasons,
          });
          evidence.push(record);
          sealed = { seq: record.seq, hash: record.hash };
          next = { ...from, asOf: Math.max(from.asOf, view.arrival), chain: head };
        }
        if (deps.timeline) {
          const c = action.client;
          timeline.push({
            sessionId: action.session_id,
            // Ordered by the session's arrival count: the window's n starts over after a logout.
            n: view.arrival,
            entry: JSON.stringify({
              n: view.n,
              user_id: action.user_id,
              event_id: action.event_id,
              decision_id: id,
              ts: action.ts,
              decided_at: decision.decided_at,
              app: action.app,
              action: action.action,
              resource: action.resource ?? null,
              records: action.records ?? null,
              client: {
                ip: c.ip,
                asn: c.asn ?? null,
                country: c.country ?? null,
                user_agent: c.user_agent,
                ja4: c.ja4 ?? null,
                device_id: c.device_id ?? null,
              },
              fp: fingerprint.id,
              changed: fingerprint.changed,
              new_to_session: fingerprint.new_to_session,
              score: decision.score,
              decision: decision.decision,
              policy_rule: f.rule,
              reasons: decision.reasons,
              model_version: decision.model_version,
              evidence: sealed,
            }),
          });
          if (decision.decision !== 'ALLOW') indexed.push(JSON.stringify({ ...decision, evidence: sealed }));
        }
      }
      if (next) {
        states.set(action.session_id, next);
        writes.set(action.session_id, next);
        remember(action.session_id, next);
      }
      // A catch-up entry was answered when it was decided: nothing more to say about it.
      if (recorded) {
        if (valid[i]!.index >= 0)
          outcomes[valid[i]!.index] = { kind: 'decision', duplicate: true, rule: f.rule, decision };
        return;
      }
      let shadow: Decision | undefined;
      if (shadowModel && shadowScores) {
        const sv = f.terminated
          ? { decision: f.decision, policyReasons: decision.reasons, rule: f.rule }
          : decide(shadowScores[i] as number, action, view, policy);
        shadow = {
          ...decision,
          decision: sv.decision,
          score: f.terminated ? decision.score : round4(shadowScores[i] as number),
          model_version: shadowModel.version,
          reasons: sv.policyReasons,
          policy_rule: sv.rule,
        };
      }
      outcomes[valid[i]!.index] = {
        kind: 'decision',
        duplicate: view.duplicate,
        rule: f.rule,
        decision,
        ...(shadow ? { shadow } : {}),
      };
    });
    const settle =
      writes.size === 0 && timeline.length === 0
        ? undefined
        : () =>
            deps.store.settle({
              policy: [...writes].map(([sessionId, st]) => ({
                sessionId,
                asOf: st.asOf,
                state: JSON.stringify(st),
              })),
              timeline,
              decisions: indexed,
            });
    return collect(outcomes as Outcome[], duplicates, settle, published, evidence);
  }

  /** A batch decided without the store (redis.outage=decide while Redis does not answer). */
  function degradedBatch(
    valid: readonly Valid[],
    outcomes: (Outcome | undefined)[],
    origin: Origin,
    outage: StoreOutage,
  ): Promise<BatchResult> {
    try {
      const degraded = decideDegraded(valid, {
        policy: deps.policy(),
        modelVersion: deps.model().version,
        decidedAt: now(),
        origin,
        outage,
        friction: (sessionId) => overlay.get(sessionId),
      });
      degraded.decisions.forEach(({ decision, duplicate }, k) => {
        outcomes[valid[k]!.index] = {
          kind: 'decision',
          decision,
          duplicate,
          rule: decision.policy_rule ?? '',
        };
      });
      return Promise.resolve({
        ...collect(outcomes as Outcome[], degraded.duplicates, undefined, degraded.published),
        degraded: true,
      });
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  return function processBatch(
    records: readonly RawRecord[],
    opts: ProcessOptions = {},
  ): Promise<BatchResult> {
    const started = now();
    const outcomes: (Outcome | undefined)[] = new Array(records.length);
    const valid: Valid[] = [];
    timeStageSync(metrics, 'decode', () => {
      records.forEach((raw, index) => {
        const r = deps.decode(raw, started);
        if (r.ok) valid.push({ index, action: r.action, input: toActionInput(r.action) });
        else outcomes[index] = { kind: 'dead_letter', deadLetter: r.deadLetter };
      });
    });
    if (valid.length === 0) return Promise.resolve(collect(outcomes as Outcome[], 0));
    const outage = deps.outage;
    const origin = opts.origin ?? 'stream';
    if (outage?.degraded()) return degradedBatch(valid, outcomes, origin, outage);
    // Decisions made without state go to the store in front of this batch's events (the catch-up),
    // with a batch of the stream that writes evidence: their records complete the chains.
    const catchUp = outage && origin === 'stream' && (opts.evidence ?? true) ? outage.take(CATCH_UP) : [];
    // An event of this batch still in the journal (a redelivered copy) is answered as it was then.
    const own = outage?.pending ? valid.flatMap((v) => outage.take(1, v.action.event_id)) : [];
    const recordedHere = new Map(own.map((e) => [e.action.event_id, e]));
    const all: Valid[] = [
      ...catchUp.map((e) => ({ index: -1, action: e.action, input: e.input, recorded: e })),
      ...valid.map((v) => {
        const recorded = recordedHere.get(v.action.event_id);
        return recorded ? { ...v, recorded } : v;
      }),
    ];
    const taken = [...catchUp, ...own];
    // timeStage calls applyBatch before it returns: the batch is with the store from here on, and
    // the policy states are asked for right behind it (one round trip for both).
    const views = timeStage(metrics, 'state', () => deps.store.applyBatch(all.map((v) => v.input)));
    if (outage)
      views.then(
        () => outage.succeeded(),
        (err: unknown) => {
          if (storeUnavailable(err)) outage.failed();
        },
      );
    const sessionIds = [...new Set(all.map((v) => v.action.session_id))];
    const policyStates = deps.store.loadPolicy(sessionIds);
    const myTurn = frictionTurn;
    let done!: () => void;
    frictionTurn = new Promise((resolve) => (done = resolve));
    const result = score(
      all,
      outcomes,
      views,
      sessionIds,
      policyStates,
      origin,
      opts.recordAllow ?? false,
      opts.evidence ?? true,
      myTurn,
    );
    // A failed batch passes its turn on too, but not before the batches begun ahead of it; its
    // catch-up entries wait for the next batch.
    void result.then(done, () => {
      outage?.putBack(taken);
      return myTurn.then(done);
    });
    return result;
  };
}

export type ProcessBatch = ReturnType<typeof createPipeline>;
