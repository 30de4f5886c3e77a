/** Types shared by the simulator's modules (kept here so scenario files do not import each other). */
import type { PrincipalType, SessionAction } from '../contract';
import type { Agent } from './agents';
import type { AppName, Role } from './apps';
import type { City } from './geo';
import type { Network, SaseProvider } from './networks';
import type { Rng } from './rng';

export const BENIGN_SCENARIOS = [
  'office_worker',
  'mobile_user',
  'vpn_toggler',
  'browser_update',
  'traveler',
  'power_user',
  'admin',
  'approver',
  'contractor',
  'service_account',
  'sase_roaming',
  'long_session',
  'analyst',
] as const;

export const ATTACK_SCENARIOS = [
  'replay_foreign',
  'replay_ua_copied',
  'replay_same_isp',
  'replay_cloned_profile',
  'replay_concurrent',
  'insider_export',
  'replay_residential_proxy',
] as const;

export type BenignScenario = (typeof BENIGN_SCENARIOS)[number];
export type AttackScenario = (typeof ATTACK_SCENARIOS)[number];
export type ScenarioName = BenignScenario | AttackScenario;
export const SCENARIO_NAMES: readonly ScenarioName[] = [...BENIGN_SCENARIOS, ...ATTACK_SCENARIOS];

/** Relative weights of scenarios; see `simulate` for how they combine with `attackRate`. */
export type ScenarioMix = Partial<Record<ScenarioName, number>>;

export type ActorKind = 'user' | 'attacker';

/** Ground truth for one event; never part of the event itself. */
export interface Label {
  event_id: string;
  session_id: string;
  /** 1 for events an attacker performed (and an insider's mass exports), else 0. */
  label: 0 | 1;
  scenario: string;
  actor: ActorKind;
  /** True from the session's first malicious event on, victim events included. */
  attack_started: boolean;
}

/** One event as a scenario produces it, with who did it and whether it was malicious. */
export interface SimEvent {
  event: SessionAction;
  actor: ActorKind;
  malicious: boolean;
}

/** A person (or service) with the places, networks and devices their sessions come from. */
export interface SimUser {
  readonly id: string;
  readonly principal: PrincipalType;
  readonly role: Role;
  readonly apps: readonly (readonly [AppName, number])[];
  readonly city: City;
  readonly acceptLanguage: string;
  /** Home broadband (a data-centre network for a service account). */
  readonly home: Network;
  /** Fixed address at home (or of the service's host): home IPs change rarely within hours. */
  readonly homeIp: string;
  readonly mobile: Network;
  readonly sase: SaseProvider;
  readonly desktop: Agent;
  readonly phone: Agent;
  readonly desktopDevice: string;
  readonly phoneDevice: string;
  /** Whether their home/mobile networks hand them IPv6 where the network has it. */
  readonly ipv6: boolean;
}

/** A scenario: one session's events (sorted by ts) for a user, starting at `start`. */
export type Scenario = (rng: Rng, start: number, user: SimUser) => SimEvent[];
