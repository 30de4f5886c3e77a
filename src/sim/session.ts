/**
 * Building one session's events: a SessionBuilder owns the session id and the event list; an
 * Actor (the user, or an attacker holding the same session token) has a clock, a fingerprint and
 * a pace, and appends actions. Scenarios are written in terms of these.
 */
import type { ClientInfo, PrincipalType, SessionAction } from '../contract';
import { type AppName, APPS, type AppSpec, recordsFor, ROLE_SPECS } from './apps';
import type { Rng } from './rng';
import type { ActorKind, SimEvent, SimUser } from './types';

/**
 * How long between one action and the next. human: reading and typing (seconds to minutes, with
 * the odd idle gap when an idle chance is set); burst: several tabs at once; fast: an attacker
 * clicking through a UI; script: a tool calling the API.
 */
export type Pace = 'human' | 'burst' | 'fast' | 'script';

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export function gapMs(rng: Rng, pace: Pace, idleChance = 0): number {
  switch (pace) {
    case 'human':
      if (idleChance > 0 && rng.chance(idleChance)) return rng.int(20 * 60_000, 60 * 60_000);
      return Math.round(clamp(rng.logNormal(12_000, 1.1), 1_000, 12 * 60_000));
    case 'burst':
      return Math.round(clamp(rng.logNormal(1_200, 0.6), 150, 6_000));
    case 'fast':
      return Math.round(clamp(rng.logNormal(5_000, 0.7), 500, 60_000));
    case 'script':
      return Math.round(clamp(rng.logNormal(600, 0.6), 80, 5_000));
    default:
      return pace satisfies never;
  }
}

/** Actions per session: log-normal around the median, at least 3. */
export function sessionLength(rng: Rng, median = 16, max = 150): number {
  return Math.round(clamp(rng.logNormal(median, 0.7), 3, max));
}

/** Whether the user did MFA at login: always for admins, never for API principals. */
export function loginMfa(rng: Rng, principal: PrincipalType): boolean {
  switch (principal) {
    case 'ADMIN':
      return true;
    case 'SERVICE':
      return false;
    case 'CONTRACTOR':
      return rng.chance(0.85);
    case 'EMPLOYEE':
      return rng.chance(0.93);
    default:
      return principal satisfies never;
  }
}

export interface EmitOptions {
  resource?: string | null;
  records?: number | null;
  mfa?: boolean;
  actor?: ActorKind;
  /** Defaults to true for attacker events, false otherwise. */
  malicious?: boolean;
}

const NO_RESOURCE: ReadonlySet<string> = new Set(['login', 'logout', 'step_up_passed', 'step_up_failed']);

export class SessionBuilder {
  readonly id: string;
  private readonly out: SimEvent[] = [];

  constructor(
    readonly rng: Rng,
    readonly user: SimUser,
    readonly app: AppSpec,
  ) {
    this.id = `s-${rng.hex(24)}`;
  }

  emit(ts: number, client: ClientInfo, action: string, o: EmitOptions = {}): void {
    const noResource = NO_RESOURCE.has(action);
    // Field order follows the contract so JSON Lines output reads like the documentation. Events
    // with the same fingerprint share one client object (actors replace it, never mutate it).
    const event: SessionAction = {
      event_id: this.rng.uuid(),
      ts: Math.round(ts),
      session_id: this.id,
      user_id: this.user.id,
      principal_type: this.user.principal,
      app: this.app.name,
      action,
      resource:
        o.resource !== undefined ? o.resource : noResource ? null : this.app.resource(this.rng, action),
      records: o.records !== undefined ? o.records : noResource ? null : recordsFor(this.rng, action),
      mfa: action === 'login' ? (o.mfa ?? true) : null,
      client,
    };
    const actor = o.actor ?? 'user';
    this.out.push({ event, actor, malicious: o.malicious ?? actor === 'attacker' });
  }

  /** The events in time order; events at the same ms keep the order they were emitted in. */
  events(): SimEvent[] {
    return this.out.slice().sort((a, b) => a.event.ts - b.event.ts);
  }
}

export class Actor {
  /** Chance that a human-paced gap is a 20-60 minute idle gap instead. */
  idleChance = 0;

  constructor(
    private readonly s: SessionBuilder,
    public client: ClientInfo,
    public t: number,
    readonly kind: ActorKind = 'user',
    public pace: Pace = 'human',
  ) {}

  /** Performs an action now, then lets the think time pass. */
  act(action: string, o: Omit<EmitOptions, 'actor'> = {}): void {
    this.s.emit(this.t, this.client, action, { ...o, actor: this.kind });
    this.t += gapMs(this.s.rng, this.pace, this.idleChance);
  }

  login(mfa = loginMfa(this.s.rng, this.s.user.principal)): void {
    this.act('login', { mfa });
  }

  /** One everyday action of the app (mostly view and search). */
  everyday(): void {
    this.act(this.s.rng.weighted(this.s.app.everyday));
  }

  wait(ms: number): void {
    this.t += Math.round(ms);
  }

  change(patch: Partial<ClientInfo>): void {
    this.client = { ...this.client, ...patch };
  }
}

export interface WorkOptions {
  /** Sensitive actions allowed (default: the user's role's, limited to what the app has). */
  sensitive?: readonly string[];
  sensitiveRate?: number;
  /** Runs before each action, e.g. to move the actor to another network. */
  before?: (i: number) => void;
}

/** n actions of ordinary work: everyday actions with the role's occasional sensitive one. */
export function work(s: SessionBuilder, a: Actor, n: number, o: WorkOptions = {}): void {
  const role = ROLE_SPECS[s.user.role];
  const allowed = (o.sensitive ?? role.sensitive).filter((x) => s.app.sensitive.includes(x));
  const rate = o.sensitiveRate ?? role.sensitiveRate;
  for (let i = 0; i < n; i++) {
    o.before?.(i);
    if (allowed.length > 0 && s.rng.chance(rate)) a.act(s.rng.pick(allowed));
    else a.everyday();
  }
}

/** Most sessions end with an explicit logout; the rest just expire. */
export function maybeLogout(s: SessionBuilder, a: Actor, p = 0.7): void {
  if (s.rng.chance(p)) a.act('logout');
}

/** A session with the user logged in: the builder and the user's actor, clock at t0. */
export function begin(rng: Rng, t0: number, u: SimUser, start: (rng: Rng) => ClientInfo, app?: AppName) {
  const s = new SessionBuilder(rng, u, APPS[app ?? rng.weighted(u.apps)]);
  const a = new Actor(s, start(rng), t0);
  a.idleChance = 0.03;
  a.login();
  return { s, a };
}
