/** ClientInfo values: a user's usual fingerprints, and the ones attackers present. */
import type { ClientInfo } from '../contract';
import { acceptLanguageFor, type Agent, desktopAgent, scriptedAgent } from './agents';
import { ATTACK_COUNTRIES, type City, countryOf, distanceKm, jitter, type Point } from './geo';
import { type NetClass, type Network, nearestPop, networksIn, networksOf, randomIp } from './networks';
import { Rng } from './rng';
import type { SimUser } from './types';

/**
 * Where an address geolocates, a function of the address alone (a geo-IP lookup is): eyeball
 * networks to near the subscriber's city, data-centre and POP networks to the site given (or one
 * of their sites).
 */
export function geolocate(net: Network, ip: string, place: City, maxKm = 4): Point {
  const r = new Rng(`geo:${ip}`);
  if (net.pops === null) return jitter(r, place, maxKm);
  const pop = net.pops.includes(place) ? place : r.pick(net.pops);
  return { lat: pop.lat, lon: pop.lon };
}

export interface ClientSpec {
  net: Network;
  place: City;
  agent: Agent;
  device: string | null;
  lang: string | null;
  ip?: string;
  v6?: boolean;
  maxKm?: number;
}

export function client(rng: Rng, c: ClientSpec): ClientInfo {
  const ip = c.ip ?? randomIp(rng, c.net, c.v6 ?? false);
  const geo = geolocate(c.net, ip, c.place, c.maxKm);
  return {
    ip,
    asn: c.net.asn,
    country: c.net.country,
    lat: geo.lat,
    lon: geo.lon,
    user_agent: c.agent.ua,
    ja4: c.agent.ja4,
    device_id: c.device,
    accept_language: c.lang,
  };
}

/** The user's laptop on their home broadband. */
export function homeClient(rng: Rng, u: SimUser, agent: Agent = u.desktop): ClientInfo {
  return client(rng, {
    net: u.home,
    place: u.city,
    agent,
    device: u.desktopDevice,
    lang: u.acceptLanguage,
    ip: u.homeIp,
  });
}

/** The user's laptop through the company's SASE / VPN: egress at the nearest POP. */
export function vpnClient(rng: Rng, u: SimUser, agent: Agent = u.desktop): ClientInfo {
  const { net, pop } = nearestPop(u.sase, u.city);
  return client(rng, { net, place: pop, agent, device: u.desktopDevice, lang: u.acceptLanguage });
}

/** The user's phone on their carrier; carrier-grade NAT hands out a new address now and then. */
export function phoneClient(rng: Rng, u: SimUser, net: Network = u.mobile): ClientInfo {
  return client(rng, {
    net,
    place: u.city,
    agent: u.phone,
    device: u.phoneDevice,
    lang: u.acceptLanguage,
    v6: u.ipv6,
    maxKm: 3,
  });
}

/** Laptop at home or on the VPN, as a session of ordinary office work starts. */
export function deskClient(rng: Rng, u: SimUser): ClientInfo {
  return rng.chance(0.55) ? homeClient(rng, u) : vpnClient(rng, u);
}

/** The user's usual client for a session: mostly the laptop, sometimes the phone. */
export function usualClient(rng: Rng, u: SimUser): ClientInfo {
  return rng.chance(0.8) ? deskClient(rng, u) : phoneClient(rng, u);
}

/** A network of the class outside the victim's country, at least minKm from them. */
export function foreignNetwork(
  rng: Rng,
  victim: City,
  classes: readonly (readonly [NetClass, number])[],
  minKm = 0,
): { net: Network; place: City } {
  for (let attempt = 0; attempt < 50; attempt++) {
    const cls = rng.weighted(classes);
    const candidates =
      cls === 'residential' || cls === 'mobile'
        ? networksIn(rng.weighted(ATTACK_COUNTRIES), cls)
        : networksOf(cls);
    if (candidates.length === 0) continue;
    const net = rng.pick(candidates);
    if (net.country === victim.country) continue;
    const place = net.pops === null ? rng.pick(countryOf(net.country).cities) : rng.pick(net.pops);
    if (distanceKm(victim, place) >= minKm) return { net, place };
  }
  // Only reached with a huge minKm: Hanoi is thousands of km from every employee country.
  const net = networksIn('VN', 'residential')[0] as Network;
  return { net, place: countryOf('VN').cities[0] as City };
}

/** An attacker's own client: a tool or a browser that is not the victim's. */
export function attackerAgent(rng: Rng, victim: Agent, scriptedShare = 0.6): Agent {
  for (;;) {
    const a = rng.chance(scriptedShare)
      ? scriptedAgent(rng, ['python_requests', 'curl', 'go_http', 'headless_chrome'])
      : desktopAgent(rng);
    if (a.ua !== victim.ua) return a;
  }
}

/** A tool whose TLS stack differs from the victim's browser, for spoofing only the UA header. */
export function differentJa4Agent(rng: Rng, victim: Agent): Agent {
  for (;;) {
    const a = scriptedAgent(rng, ['python_requests', 'curl', 'go_http', 'axios']);
    if (a.ja4 !== victim.ja4) return a;
  }
}

/** What an attacker's client sends as device id: none, or a device the session never had. */
export function attackerDevice(rng: Rng): string | null {
  return rng.chance(0.5) ? null : `dev-${rng.hex(16)}`;
}

export function attackerLanguage(agent: Agent, place: City): string | null {
  return acceptLanguageFor(agent, countryOf(place.country).acceptLanguage);
}
