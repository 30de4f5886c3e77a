/**
 * The simulated workforce: employees, admins, contractors and service accounts, each with a home,
 * networks and devices that stay the same across their sessions.
 */
import { type Agent, desktopAgent, makeAgent, mobileAgent, scriptedAgent } from './agents';
import { type Role, ROLE_SPECS } from './apps';
import { CONTRACTOR_COUNTRIES, countryOf, EMPLOYEE_COUNTRIES } from './geo';
import { pickNetwork, randomIp, type SaseProvider } from './networks';
import type { Rng } from './rng';
import type { SimUser } from './types';

const FIRST = [
  'jane',
  'john',
  'maria',
  'wei',
  'aisha',
  'carlos',
  'priya',
  'lukas',
  'sofia',
  'kenji',
  'olivia',
  'ahmed',
  'emma',
  'noah',
  'fatima',
  'mateo',
  'chloe',
  'arjun',
  'hannah',
  'diego',
  'yuki',
  'liam',
  'ana',
  'tomasz',
  'grace',
  'omar',
  'elena',
  'raj',
  'mia',
  'ben',
  'zoe',
  'ivan',
  'nora',
  'samuel',
  'leila',
  'pierre',
];
const LAST = [
  'doe',
  'smith',
  'garcia',
  'chen',
  'khan',
  'mueller',
  'rossi',
  'tanaka',
  'johnson',
  'patel',
  'silva',
  'nguyen',
  'kowalski',
  'dubois',
  'brown',
  'martin',
  'lopez',
  'kim',
  'singh',
  'wilson',
  'novak',
  'sato',
  'okafor',
  'jansen',
  'fernandez',
  'murphy',
  'ivanova',
  'cohen',
  'lee',
  'schmidt',
  'anderson',
  'costa',
];
const SERVICES = [
  'etl-snowflake',
  'sfdc-sync',
  'backup-runner',
  'ci-deployer',
  'hr-integration',
  'ticket-bot',
  'billing-export',
  'scim-provisioner',
  'metrics-collector',
  'report-scheduler',
];

export interface Population {
  readonly employees: readonly SimUser[];
  readonly admins: readonly SimUser[];
  readonly contractors: readonly SimUser[];
  readonly services: readonly SimUser[];
}

export interface PopulationSize {
  employees: number;
  admins: number;
  contractors: number;
  services: number;
}

/** A size that gives `sessions` sessions a realistic number of repeat users. */
export function sizeFor(sessions: number): PopulationSize {
  return {
    employees: Math.max(20, Math.ceil(sessions / 3)),
    admins: Math.max(4, Math.ceil(sessions / 80)),
    contractors: Math.max(6, Math.ceil(sessions / 25)),
    services: Math.max(4, Math.ceil(sessions / 60)),
  };
}

const EMPLOYEE_ROLES: readonly (readonly [Role, number])[] = [
  ['sales', 25],
  ['finance', 12],
  ['hr', 8],
  ['engineer', 25],
  ['analyst', 15],
  ['support', 15],
];

const SASE: readonly (readonly [SaseProvider, number])[] = [
  ['zscaler', 5],
  ['netskope', 3],
  ['cloudflare', 2],
];

export function createPopulation(rng: Rng, size: PopulationSize): Population {
  const taken = new Set<string>();
  // One company, one SASE vendor for almost everyone (acquired subsidiaries keep theirs).
  const companySase = rng.weighted(SASE);
  const person = (
    role: Role,
    countries: readonly (readonly [string, number])[],
    idStyle: 'email' | 'numeric',
  ): SimUser => {
    const country = countryOf(rng.weighted(countries));
    const city = rng.pick(country.cities);
    const home = pickNetwork(rng, country.code, 'residential');
    const ipv6 = rng.chance(0.2);
    const spec = ROLE_SPECS[role];
    return {
      id: uniqueId(rng, taken, idStyle),
      principal: spec.principal,
      role,
      apps: spec.apps,
      city,
      acceptLanguage: country.acceptLanguage,
      home,
      homeIp: randomIp(rng, home, ipv6),
      mobile: pickNetwork(rng, country.code, 'mobile'),
      sase: rng.chance(0.9) ? companySase : rng.weighted(SASE),
      desktop: desktopAgent(rng),
      phone: mobileAgent(rng),
      desktopDevice: `dev-${rng.hex(16)}`,
      phoneDevice: `dev-${rng.hex(16)}`,
      ipv6,
    };
  };
  const employees = Array.from({ length: size.employees }, () =>
    person(rng.weighted(EMPLOYEE_ROLES), EMPLOYEE_COUNTRIES, rng.chance(0.75) ? 'email' : 'numeric'),
  );
  const admins = Array.from({ length: size.admins }, () => person('it_admin', EMPLOYEE_COUNTRIES, 'email'));
  const contractors = Array.from({ length: size.contractors }, () =>
    person('contractor', CONTRACTOR_COUNTRIES, 'numeric'),
  );
  const services = Array.from({ length: size.services }, (_, i) => service(rng, taken, i));
  return { employees, admins, contractors, services };
}

function uniqueId(rng: Rng, taken: Set<string>, style: 'email' | 'numeric'): string {
  for (let attempt = 0; ; attempt++) {
    const id =
      style === 'numeric'
        ? `u-${rng.int(10000, 99999)}`
        : `${rng.pick(FIRST)}.${rng.pick(LAST)}${attempt > 2 ? rng.int(2, 99) : ''}@example.com`;
    if (!taken.has(id)) {
      taken.add(id);
      return id;
    }
  }
}

/** A service account: a scripted client on one cloud host, calling one app's API. */
function service(rng: Rng, taken: Set<string>, i: number): SimUser {
  const region = rng.weighted([
    ['US', 6],
    ['DE', 2],
    ['GB', 1],
    ['IN', 1],
    ['SG', 1],
  ] as const);
  const home = pickNetwork(rng, region, 'hosting');
  const city = home.pops === null ? rng.pick(countryOf(region).cities) : rng.pick(home.pops);
  const name = `svc-${SERVICES[i % SERVICES.length] ?? 'integration'}${i >= SERVICES.length ? `-${Math.floor(i / SERVICES.length) + 1}` : ''}`;
  const app = rng.weighted(ROLE_SPECS.service.apps);
  const client: Agent =
    app === 'aws-console'
      ? makeAgent('boto3', 'server', rng.pick(['1.34.69', '1.35.10']))
      : scriptedAgent(rng, ['python_requests', 'go_http', 'axios']);
  const id = `${name}@example.com`;
  taken.add(id);
  return {
    id,
    principal: 'SERVICE',
    role: 'service',
    apps: [[app, 1]],
    city,
    acceptLanguage: 'en-US',
    home,
    homeIp: randomIp(rng, home),
    mobile: home,
    sase: 'zscaler',
    desktop: client,
    phone: client,
    desktopDevice: '',
    phoneDevice: '',
    ipv6: false,
  };
}
