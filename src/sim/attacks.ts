/**
 * Attack scenarios. Token replay: the victim works normally, then someone else presents the same
 * session token from another machine; the kinds differ in how much of the victim's fingerprint
 * the attacker copies. Plus an insider (valid fingerprint) exporting far more than their job needs.
 */
import type { ClientInfo } from '../contract';
import type { Agent } from './agents';
import {
  attackerAgent,
  attackerDevice,
  attackerLanguage,
  client,
  differentJa4Agent,
  foreignNetwork,
  homeClient,
  phoneClient,
  usualClient,
} from './fingerprints';
import { countryOf } from './geo';
import { networksIn, networksOf } from './networks';
import type { Rng } from './rng';
import { Actor, begin, maybeLogout, type SessionBuilder, work } from './session';
import type { AttackScenario, Scenario, SimUser } from './types';

/** The victim's part: login and at least one ordinary action before the token is stolen. */
function victimStart(
  rng: Rng,
  t0: number,
  u: SimUser,
  start: (rng: Rng) => ClientInfo = (r) => usualClient(r, u),
) {
  const { s, a } = begin(rng, t0, u, start);
  work(s, a, rng.int(1, 10));
  const agent = a.client.user_agent === u.phone.ua ? u.phone : u.desktop;
  return { s, v: a, agent };
}

const FOREIGN_CLASSES = [
  ['hosting', 45],
  ['proxy', 35],
  ['residential', 20],
] as const;

/** After takeover: a little reconnaissance, then what the attacker came for. */
function playbook(s: SessionBuilder, a: Actor): void {
  const rng = s.rng;
  const has = (x: string) => s.app.sensitive.includes(x);
  for (let k = rng.int(1, 6); k > 0; k--) a.act(rng.chance(0.6) ? 'view' : 'search');
  let done = 0;
  if (has('export') && rng.chance(0.8)) {
    for (let k = rng.int(1, 5); k > 0; k--) {
      a.act('export', { records: Math.round(Math.min(100_000, Math.max(1_000, rng.logNormal(8_000, 0.8)))) });
      if (rng.chance(0.3)) a.act('view');
      done++;
    }
  }
  if (has('approve') && rng.chance(0.3)) {
    for (let k = rng.int(1, 3); k > 0; k--) a.act('approve', { records: 1 });
    done++;
  }
  for (const [action, p] of [
    ['permission_change', 0.4],
    ['api_token_create', 0.45],
    ['config_change', 0.3],
  ] as const) {
    if (has(action) && rng.chance(p)) {
      a.act(action);
      done++;
    }
  }
  if (done === 0) a.act(s.app.sensitive[0] ?? 'export', { records: rng.int(2_000, 20_000) });
  if (rng.chance(0.15)) a.act('logout');
}

/** From another country, on a cloud, proxy or foreign residential network, with its own client. */
function foreignAttacker(rng: Rng, u: SimUser, victim: Agent): { c: ClientInfo; agent: Agent } {
  const { net, place } = foreignNetwork(rng, u.city, FOREIGN_CLASSES);
  const agent = attackerAgent(rng, victim);
  const c = client(rng, {
    net,
    place,
    agent,
    device: attackerDevice(rng),
    lang: attackerLanguage(agent, place),
  });
  return { c, agent };
}

/** The victim's User-Agent header on a different TLS stack, from a cloud or proxy network. */
function uaCopiedAttacker(rng: Rng, v: ClientInfo, victim: Agent): ClientInfo {
  const tool = differentJa4Agent(rng, victim);
  const nets = [...networksOf('hosting'), ...networksOf('proxy')].filter((n) => n.asn !== v.asn);
  const net = rng.pick(nets);
  const place = rng.pick(net.pops ?? []);
  return {
    ...client(rng, {
      net,
      place,
      agent: tool,
      device: attackerDevice(rng),
      lang: rng.chance(0.5) ? v.accept_language : null,
    }),
    user_agent: v.user_agent,
  };
}

const replayForeign: Scenario = (rng, t0, u) => {
  const { s, v, agent } = victimStart(rng, t0, u);
  const { c, agent: tool } = foreignAttacker(rng, u, agent);
  const a = new Actor(
    s,
    c,
    v.t + rng.int(30_000, 40 * 60_000),
    'attacker',
    tool.scripted ? 'script' : 'fast',
  );
  playbook(s, a);
  return s.events();
};

const replayUaCopied: Scenario = (rng, t0, u) => {
  const { s, v, agent } = victimStart(rng, t0, u);
  const a = new Actor(
    s,
    uaCopiedAttacker(rng, v.client, agent),
    v.t + rng.int(30_000, 40 * 60_000),
    'attacker',
    'script',
  );
  playbook(s, a);
  return s.events();
};

/** Same ISP, same city (a neighbour, or malware on the home network's other machine). */
const replaySameIsp: Scenario = (rng, t0, u) => {
  const onPhone = rng.chance(0.3);
  const { s, v, agent } = victimStart(rng, t0, u, (r) => (onPhone ? phoneClient(r, u) : homeClient(r, u)));
  const tool = differentJa4Agent(rng, agent);
  const net = onPhone ? u.mobile : u.home;
  let c: ClientInfo;
  do {
    c = client(rng, {
      net,
      place: u.city,
      agent: tool,
      device: attackerDevice(rng),
      lang: v.client.accept_language,
      maxKm: 8,
    });
  } while (c.ip === v.client.ip);
  c = { ...c, user_agent: v.client.user_agent };
  const a = new Actor(
    s,
    c,
    v.t + rng.int(30_000, 30 * 60_000),
    'attacker',
    rng.chance(0.5) ? 'script' : 'fast',
  );
  playbook(s, a);
  return s.events();
};

/**
 * An anti-detect browser replaying the victim's UA, JA4, device id and language, far away after
 * an idle gap: only the network, the place and the implied travel speed give it away.
 */
const replayClonedProfile: Scenario = (rng, t0, u) => {
  const { s, v } = victimStart(rng, t0, u);
  const { net, place } = foreignNetwork(
    rng,
    u.city,
    [
      ['hosting', 3],
      ['proxy', 3],
      ['residential', 4],
    ],
    3000,
  );
  const c: ClientInfo = {
    ...client(rng, { net, place, agent: u.desktop, device: null, lang: null }),
    user_agent: v.client.user_agent,
    ja4: v.client.ja4,
    device_id: v.client.device_id,
    accept_language: v.client.accept_language,
  };
  const a = new Actor(s, c, v.t + rng.int(20 * 60_000, 60 * 60_000), 'attacker', 'fast');
  playbook(s, a);
  return s.events();
};

/** Victim and attacker both active on the token at once: their actions interleave. */
const replayConcurrent: Scenario = (rng, t0, u) => {
  const { s, v, agent } = victimStart(rng, t0, u);
  const c = rng.chance(0.5) ? foreignAttacker(rng, u, agent).c : uaCopiedAttacker(rng, v.client, agent);
  const a = new Actor(s, c, v.t, 'attacker', 'fast');
  let t = v.t;
  for (let j = 0, n = 2 * rng.int(3, 8); j < n; j++) {
    const who = j % 2 === 0 ? v : a;
    who.t = t;
    if (who === a) a.act(rng.chance(0.6) ? 'view' : 'search');
    else v.everyday();
    t += Math.round(Math.max(500, rng.logNormal(8_000, 0.6)));
  }
  a.t = t;
  playbook(s, a);
  v.t = t + rng.int(1_000, 30_000);
  v.idleChance = 0;
  work(s, v, rng.int(2, 8));
  return s.events();
};

/**
 * An infostealer's cookie replayed through a residential proxy in the victim's own country (the
 * proxy networks sell exits by country), from an anti-detect browser that copies the victim's
 * User-Agent and usually the TLS fingerprint and device id too, at a human pace: the network and
 * the city change, often little else.
 */
const replayResidentialProxy: Scenario = (rng, t0, u) => {
  const { s, v } = victimStart(rng, t0, u);
  const country = u.city.country;
  const isps = networksIn(country, 'residential').filter((n) => n.asn !== v.client.asn);
  const net = rng.pick(isps.length > 0 ? isps : networksOf('residential'));
  const place = rng.pick(countryOf(net.country).cities);
  const copyTls = rng.chance(0.7);
  const c: ClientInfo = {
    ...client(rng, { net, place, agent: u.desktop, device: null, lang: null }),
    user_agent: v.client.user_agent,
    ja4: copyTls ? v.client.ja4 : differentJa4Agent(rng, u.desktop).ja4,
    device_id: rng.chance(0.4) ? v.client.device_id : attackerDevice(rng),
    accept_language: v.client.accept_language,
  };
  const a = new Actor(s, c, v.t + rng.int(5 * 60_000, 90 * 60_000), 'attacker', 'human');
  playbook(s, a);
  return s.events();
};

/** A contractor with a valid fingerprint exporting tens of thousands of records in bursts. */
const insiderExport: Scenario = (rng, t0, u) => {
  const app = rng.weighted([
    ['salesforce', 4],
    ['snowflake', 3],
    ['servicenow', 3],
  ] as const);
  const { s, a } = begin(rng, t0, u, (r) => homeClient(r, u), app);
  work(s, a, rng.int(3, 12), { sensitiveRate: 0 });
  // Half of them keep each export small, below a mass-export rule, and make it up in number.
  const small = rng.chance(0.5);
  const [lo, hi] = small ? [1_000, 4_000] : [2_000, 12_000];
  for (let b = rng.int(2, 5); b > 0; b--) {
    a.pace = 'fast';
    for (let k = small ? rng.int(4, 10) : rng.int(2, 6); k > 0; k--) {
      a.act('export', { records: rng.int(lo, hi), malicious: true });
    }
    a.pace = 'human';
    work(s, a, rng.int(1, 4), { sensitiveRate: 0 });
    a.wait(rng.int(2, 15) * 60_000);
  }
  maybeLogout(s, a);
  return s.events();
};

export const ATTACKS: Readonly<Record<AttackScenario, Scenario>> = {
  replay_foreign: replayForeign,
  replay_ua_copied: replayUaCopied,
  replay_same_isp: replaySameIsp,
  replay_cloned_profile: replayClonedProfile,
  replay_concurrent: replayConcurrent,
  insider_export: insiderExport,
  replay_residential_proxy: replayResidentialProxy,
};
