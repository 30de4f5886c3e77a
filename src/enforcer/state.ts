import { SENSITIVE_ACTIONS, type Decision, type Reason } from '../contract';

/**
 * What an enforcement point remembers about sessions, built only from Decision records (pure, no
 * I/O, time passed in). Feed it every decision from the decisions topic, in topic order, and ask
 * `check` before letting a request through.
 *
 * - STEP_UP puts the session under step-up until a decision for it with `action === 'step_up_passed'`
 *   and decision ALLOW arrives, or `stepUpTtlMs` passes.
 * - BLOCK_ACTION blocks the decision's `action` for `blockTtlMs`; with no action (a v1 writer), every
 *   sensitive action. Nothing else lifts a block.
 * - TERMINATE marks the session terminated for `terminateTtlMs`. Nothing lifts it.
 *
 * Order is by `decided_at`: a decision older than the state it would change leaves that state alone,
 * and one already past its TTL is ignored, so replaying the topic from any earlier point rebuilds the
 * same state. The engine stamps one `decided_at` on a whole batch, so decisions with equal times apply
 * in arrival order (the topic keeps a session's decisions in order); a `decision_id` seen recently
 * for the session is a redelivery and is skipped.
 */

export interface EnforcementOptions {
  /** How long STEP_UP holds when no `step_up_passed` ALLOW arrives. @default 15 min */
  stepUpTtlMs?: number;
  /** How long BLOCK_ACTION blocks the action. @default 5 min */
  blockTtlMs?: number;
  /** How long TERMINATE holds. @default 12 h */
  terminateTtlMs?: number;
  /**
   * Sessions kept at most; past it the least recently used session (by decision or denied check)
   * is dropped. About 1 KiB per session. @default 100_000
   */
  maxSessions?: number;
  /** What BLOCK_ACTION without an action name blocks. @default SENSITIVE_ACTIONS from the contract */
  sensitiveActions?: ReadonlySet<string>;
  /** Actions a session under step-up may still perform (to step up, or to leave). @default STEP_UP_EXEMPT_ACTIONS */
  stepUpExempt?: ReadonlySet<string>;
  /** The clock, epoch millis. @default Date.now */
  now?: () => number;
}

/** Step-up itself and logout stay possible while a session is asked to step up. */
export const STEP_UP_EXEMPT_ACTIONS: ReadonlySet<string> = new Set([
  'step_up',
  'step_up_passed',
  'step_up_failed',
  'logout',
]);

export const ENFORCEMENT_DEFAULTS = Object.freeze({
  stepUpTtlMs: 15 * 60_000,
  blockTtlMs: 5 * 60_000,
  terminateTtlMs: 12 * 3_600_000,
  maxSessions: 100_000,
});

export type DenyingDecision = 'STEP_UP' | 'BLOCK_ACTION' | 'TERMINATE';

/** Why a request must not go through, and until when (epoch millis) the reason holds. */
export interface Denial {
  allow: false;
  decision: DenyingDecision;
  /** 401 for STEP_UP (authenticate again, then retry), 403 for the others. */
  status: 401 | 403;
  reasons: Reason[];
  decisionId: string;
  until: number;
}

export type CheckResult = { allow: true } | Denial;

/**
 * What `apply` did with a decision: `applied` (changed the state), `ignored` (nothing to enforce:
 * an ALLOW other than `step_up_passed`), `expired` (past its TTL), `stale` (newer state already
 * there), `duplicate` (this decision_id was applied already).
 */
export type ApplyOutcome = 'applied' | 'ignored' | 'expired' | 'stale' | 'duplicate';

export interface EnforcementStats {
  sessions: number;
  applied: number;
  ignored: number;
  expired: number;
  stale: number;
  duplicate: number;
  /** Sessions dropped to stay within maxSessions (their state is lost). */
  evicted: number;
}

interface Hold {
  decidedAt: number;
  until: number;
  decisionId: string;
  reasons: Reason[];
}

interface SessionState {
  terminate: Hold | null;
  stepUp: Hold | null;
  /** decided_at of the latest `step_up_passed` ALLOW; a STEP_UP decided before it is over. */
  passedAt: number;
  /** BLOCK_ACTION with an action name, by name. */
  blocks: Map<string, Hold>;
  /** BLOCK_ACTION without an action name: every sensitive action. */
  blockSensitive: Hold | null;
  /** Recently applied decision ids (redeliveries after an engine crash, inline then Kafka). */
  recent: string[];
}

const RECENT_IDS = 16;
const live = (h: Hold | null | undefined, now: number): h is Hold => h != null && now < h.until;
/** The hold that lasts longer (either may be absent). */
const longer = (a: Hold | null, b: Hold | null): Hold | null =>
  a && b ? (b.until > a.until ? b : a) : (a ?? b);

export class SessionEnforcement {
  private readonly sessions = new Map<string, SessionState>();
  private readonly stepUpTtlMs: number;
  private readonly blockTtlMs: number;
  private readonly terminateTtlMs: number;
  private readonly maxSessions: number;
  private readonly sensitive: ReadonlySet<string>;
  private readonly exempt: ReadonlySet<string>;
  private readonly now: () => number;
  private readonly counts = { applied: 0, ignored: 0, expired: 0, stale: 0, duplicate: 0, evicted: 0 };

  constructor(opts: EnforcementOptions = {}) {
    this.stepUpTtlMs = positive(opts.stepUpTtlMs ?? ENFORCEMENT_DEFAULTS.stepUpTtlMs, 'stepUpTtlMs');
    this.blockTtlMs = positive(opts.blockTtlMs ?? ENFORCEMENT_DEFAULTS.blockTtlMs, 'blockTtlMs');
    this.terminateTtlMs = positive(
      opts.terminateTtlMs ?? ENFORCEMENT_DEFAULTS.terminateTtlMs,
      'terminateTtlMs',
    );
    this.maxSessions = positive(opts.maxSessions ?? ENFORCEMENT_DEFAULTS.maxSessions, 'maxSessions');
    this.sensitive = opts.sensitiveActions ?? SENSITIVE_ACTIONS;
    this.exempt = opts.stepUpExempt ?? STEP_UP_EXEMPT_ACTIONS;
    this.now = opts.now ?? Date.now;
  }

  /** The longest TTL: how far back a replay of the decisions topic must start. */
  get replayWindowMs(): number {
    return Math.max(this.stepUpTtlMs, this.blockTtlMs, this.terminateTtlMs);
  }

  /** Sessions currently held in memory (some may have only expired state, until `prune`). */
  get size(): number {
    return this.sessions.size;
  }

  /** Takes one decision into account. Never throws on content; see ApplyOutcome. */
  apply(d: Decision, now: number = this.now()): ApplyOutcome {
    const outcome = this.applyInner(d, now);
    this.counts[outcome]++;
    return outcome;
  }

  private applyInner(d: Decision, now: number): ApplyOutcome {
    const isPass = d.decision === 'ALLOW' && d.action === 'step_up_passed';
    if (d.decision === 'ALLOW' && !isPass) return 'ignored';
    const ttl = this.ttl(d.decision);
    if (d.decided_at + ttl <= now) return 'expired';

    const existing = this.sessions.get(d.session_id);
    if (existing?.recent.includes(d.decision_id)) return 'duplicate';
    const s = existing ?? {
      terminate: null,
      stepUp: null,
      passedAt: Number.NEGATIVE_INFINITY,
      blocks: new Map<string, Hold>(),
      blockSensitive: null,
      recent: [],
    };
    const hold: Hold = {
      decidedAt: d.decided_at,
      until: d.decided_at + ttl,
      decisionId: d.decision_id,
      reasons: d.reasons,
    };
    // Equal times are not "older": the later arrival wins (see the module comment).
    const newer = (current: Hold | null | undefined) => !current || d.decided_at >= current.decidedAt;

    let changed = false;
    switch (d.decision) {
      case 'ALLOW':
        if (d.decided_at >= s.passedAt) {
          s.passedAt = d.decided_at;
          if (s.stepUp && s.stepUp.decidedAt <= d.decided_at) s.stepUp = null;
          changed = true;
        }
        break;
      case 'STEP_UP':
        if (d.decided_at >= s.passedAt && newer(s.stepUp)) {
          s.stepUp = hold;
          changed = true;
        }
        break;
      case 'BLOCK_ACTION':
        if (d.action == null) {
          if (newer(s.blockSensitive)) {
            s.blockSensitive = hold;
            changed = true;
          }
        } else if (newer(s.blocks.get(d.action))) {
          s.blocks.set(d.action, hold);
          changed = true;
        }
        break;
      case 'TERMINATE':
        if (newer(s.terminate)) {
          s.terminate = hold;
          changed = true;
        }
        break;
      default:
        d.decision satisfies never;
        return 'ignored';
    }
    if (!changed) return 'stale';

    s.recent.push(d.decision_id);
    if (s.recent.length > RECENT_IDS) s.recent.shift();
    this.touch(d.session_id, s);
    return 'applied';
  }

  /**
   * Whether `action` may go ahead in the session now. TERMINATE wins over BLOCK_ACTION, which wins
   * over STEP_UP (stepping up would not lift a block).
   */
  check(sessionId: string, action: string, now: number = this.now()): CheckResult {
    const s = this.sessions.get(sessionId);
    if (!s) return { allow: true };
    if (live(s.terminate, now)) {
      this.touch(sessionId, s);
      return denial('TERMINATE', s.terminate);
    }
    const named = s.blocks.get(action);
    const block = longer(
      live(named, now) ? named : null,
      this.sensitive.has(action) && live(s.blockSensitive, now) ? s.blockSensitive : null,
    );
    if (block) {
      this.touch(sessionId, s);
      return denial('BLOCK_ACTION', block);
    }
    if (live(s.stepUp, now) && !this.exempt.has(action)) {
      this.touch(sessionId, s);
      return denial('STEP_UP', s.stepUp);
    }
    if (this.expiresAt(s) <= now) this.sessions.delete(sessionId);
    return { allow: true };
  }

  /**
   * The denial one decision means by itself (null for ALLOW), whatever the state: for a request the
   * enforcement point has just had decided inline.
   */
  denialOf(d: Decision): Denial | null {
    if (d.decision === 'ALLOW') return null;
    return denial(d.decision, {
      decidedAt: d.decided_at,
      until: d.decided_at + this.ttl(d.decision),
      decisionId: d.decision_id,
      reasons: d.reasons,
    });
  }

  /** How long a decision holds; the step-up TTL also bounds the pass that ends a step-up. */
  private ttl(decision: Decision['decision']): number {
    if (decision === 'TERMINATE') return this.terminateTtlMs;
    return decision === 'BLOCK_ACTION' ? this.blockTtlMs : this.stepUpTtlMs;
  }

  /** Drops sessions whose state has all expired. Returns how many. Cost: one pass over all sessions. */
  prune(now: number = this.now()): number {
    let dropped = 0;
    for (const [id, s] of this.sessions) {
      if (this.expiresAt(s) <= now) {
        this.sessions.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  stats(): EnforcementStats {
    return { sessions: this.sessions.size, ...this.counts };
  }

  /** When nothing about the session matters any more (the pass time matters while a STEP_UP could still be older). */
  private expiresAt(s: SessionState): number {
    let t = Math.max(
      s.terminate?.until ?? 0,
      s.stepUp?.until ?? 0,
      s.blockSensitive?.until ?? 0,
      s.passedAt + this.stepUpTtlMs,
    );
    for (const b of s.blocks.values()) t = Math.max(t, b.until);
    return t;
  }

  /** Marks the session most recently used (Map order is insertion order) and evicts past the cap. */
  private touch(id: string, s: SessionState): void {
    this.sessions.delete(id);
    this.sessions.set(id, s);
    while (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
      this.counts.evicted++;
    }
  }
}

function denial(decision: DenyingDecision, h: Hold): Denial {
  return {
    allow: false,
    decision,
    status: decision === 'STEP_UP' ? 401 : 403,
    reasons: h.reasons,
    decisionId: h.decisionId,
    until: h.until,
  };
}

function positive(v: number, name: string): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number (got ${v})`);
  return v;
}
