/**
 * The scenario registry: every scenario by name, the default mix, which users each scenario's
 * sessions belong to, and the labels of a session's events.
 */
import { RiskStreamError } from '../errors';
import { ATTACKS } from './attacks';
import { BENIGN } from './benign';
import type { Population } from './population';
import type { Rng } from './rng';
import {
  ATTACK_SCENARIOS,
  type AttackScenario,
  BENIGN_SCENARIOS,
  type Label,
  type Scenario,
  type ScenarioMix,
  type ScenarioName,
  SCENARIO_NAMES,
  type SimEvent,
  type SimUser,
} from './types';

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = { ...BENIGN, ...ATTACKS };

/** Relative weights within the benign kinds and within the attack kinds. */
export const DEFAULT_MIX: Readonly<Record<ScenarioName, number>> = {
  office_worker: 35,
  mobile_user: 12,
  vpn_toggler: 10,
  browser_update: 4,
  traveler: 4,
  power_user: 8,
  admin: 4,
  approver: 6,
  contractor: 7,
  service_account: 10,
  sase_roaming: 6,
  long_session: 10,
  analyst: 5,
  replay_foreign: 26,
  replay_ua_copied: 18,
  replay_same_isp: 11,
  replay_cloned_profile: 11,
  replay_concurrent: 12,
  insider_export: 12,
  replay_residential_proxy: 14,
};

const ATTACK_SET: ReadonlySet<string> = new Set(ATTACK_SCENARIOS);

export function isAttackScenario(name: ScenarioName): name is AttackScenario {
  return ATTACK_SET.has(name);
}

type Pool = keyof Population | 'victims';

const POOL: Readonly<Record<ScenarioName, Pool>> = {
  office_worker: 'employees',
  mobile_user: 'employees',
  vpn_toggler: 'employees',
  browser_update: 'employees',
  traveler: 'employees',
  power_user: 'employees',
  admin: 'admins',
  approver: 'employees',
  contractor: 'contractors',
  service_account: 'services',
  sase_roaming: 'employees',
  long_session: 'employees',
  analyst: 'employees',
  replay_foreign: 'victims',
  replay_ua_copied: 'victims',
  replay_same_isp: 'victims',
  replay_cloned_profile: 'victims',
  replay_concurrent: 'victims',
  insider_export: 'contractors',
  replay_residential_proxy: 'victims',
};

/** The user a scenario's session belongs to; token-replay victims are sometimes admins. */
export function pickUser(rng: Rng, pop: Population, name: ScenarioName): SimUser {
  const pool = POOL[name];
  if (pool === 'victims') return rng.pick(rng.chance(0.15) ? pop.admins : pop.employees);
  return rng.pick(pop[pool]);
}

function invalid(message: string): RiskStreamError {
  return new RiskStreamError('CONFIG_INVALID', message);
}

/**
 * Chooses each session's scenario. A session is an attack with probability `attackRate`, then
 * the kind is drawn by weight within its group. With `mix`, only the scenarios it names (with a
 * positive weight) are used; when it names only one group, every session comes from that group.
 */
export function scenarioPicker(attackRate: number, mix?: ScenarioMix): (rng: Rng) => ScenarioName {
  if (!(attackRate >= 0 && attackRate <= 1))
    throw invalid(`attackRate must be a number in [0, 1], got ${attackRate}`);
  const weights: ScenarioMix = mix ?? DEFAULT_MIX;
  for (const [name, w] of Object.entries(weights)) {
    if (!SCENARIO_NAMES.includes(name as ScenarioName)) {
      throw invalid(`mix: unknown scenario "${name}"; known: ${SCENARIO_NAMES.join(', ')}`);
    }
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
      throw invalid(`mix.${name} must be a finite number >= 0, got ${String(w)}`);
    }
  }
  const group = (names: readonly ScenarioName[]) =>
    names.map((n) => [n, weights[n] ?? 0] as const).filter(([, w]) => w > 0);
  const benign = group(BENIGN_SCENARIOS);
  const attack = group(ATTACK_SCENARIOS);
  if (benign.length === 0 && attack.length === 0) throw invalid('mix has no scenario with a positive weight');
  return (rng) => {
    const isAttack = benign.length === 0 || (attack.length > 0 && rng.chance(attackRate));
    return rng.weighted(isAttack ? attack : benign);
  };
}

/** Labels for one session's events, aligned with them. */
export function labelSession(scenario: ScenarioName, events: readonly SimEvent[]): Label[] {
  let started = false;
  return events.map(({ event, actor, malicious }) => {
    started ||= malicious;
    return {
      event_id: event.event_id,
      session_id: event.session_id,
      label: malicious ? 1 : 0,
      scenario,
      actor,
      attack_started: started,
    };
  });
}
