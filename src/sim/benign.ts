/**
 * Benign scenarios: what real sessions look like, fingerprint drift included (carrier NAT,
 * VPN toggling, browser updates, travel), so a model learns that drift alone is not an attack.
 */
import { makeAgent, upgraded, VERSIONS } from './agents';
import { between, CITIES, type City, distanceKm } from './geo';
import { client, deskClient, homeClient, phoneClient, vpnClient } from './fingerprints';
import { networksIn, SASE_PROVIDERS } from './networks';
import { begin, gapMs, maybeLogout, sessionLength, work } from './session';
import type { BenignScenario, Scenario } from './types';

const officeWorker: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => deskClient(r, u));
  work(s, a, sessionLength(rng));
  maybeLogout(s, a);
  return s.events();
};

/** Phone on the carrier: the address moves within the carrier, now and then to another one. */
const mobileUser: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => phoneClient(r, u));
  const carriers = networksIn(u.mobile.country, 'mobile');
  work(s, a, sessionLength(rng), {
    before: (i) => {
      if (i === 0 || !rng.chance(0.15)) return;
      const others = carriers.filter((c) => c.asn !== a.client.asn);
      const net =
        others.length > 0 && rng.chance(0.15)
          ? rng.pick(others)
          : (carriers.find((c) => c.asn === a.client.asn) ?? u.mobile);
      a.client = phoneClient(rng, u, net);
    },
  });
  maybeLogout(s, a);
  return s.events();
};

/** Same laptop, switching between home broadband and the corporate VPN. */
const vpnToggler: Scenario = (rng, t0, u) => {
  const home = homeClient(rng, u);
  const vpn = vpnClient(rng, u);
  const { s, a } = begin(rng, t0, u, () => (rng.chance(0.5) ? home : vpn));
  const n = sessionLength(rng);
  const forced = rng.int(1, n - 1);
  work(s, a, n, {
    before: (i) => {
      if (i === forced || (i > 0 && rng.chance(0.08))) a.client = a.client.ip === home.ip ? vpn : home;
    },
  });
  maybeLogout(s, a);
  return s.events();
};

/** The browser updates itself mid-session: new UA version, maybe a new JA4, same device. */
const browserUpdate: Scenario = (rng, t0, u) => {
  // Users already on the newest release are simulated as coming from the one before.
  const up = upgraded(u.desktop);
  const vs = VERSIONS[u.desktop.family];
  const from =
    up === null
      ? makeAgent(u.desktop.family, u.desktop.platform, vs[vs.length - 2] ?? u.desktop.version)
      : u.desktop;
  const to = up ?? u.desktop;
  const { s, a } = begin(rng, t0, u, (r) => (r.chance(0.5) ? homeClient(r, u, from) : vpnClient(r, u, from)));
  const n = Math.max(4, sessionLength(rng));
  const at = rng.int(1, n - 2);
  work(s, a, n, {
    before: (i) => {
      if (i !== at) return;
      a.wait(rng.int(60_000, 4 * 60_000)); // "Relaunch to update"
      a.change({ user_agent: to.ua, ja4: to.ja4 });
    },
  });
  maybeLogout(s, a);
  return s.events();
};

/** Cities a person could reach by car or train in a few hours. */
function nearby(from: City): City[] {
  return CITIES.filter((c) => {
    const km = distanceKm(from, c);
    return km >= 60 && km <= 650;
  });
}

/** Slow, plausible travel: laptop tethered on the way, hotel Wi-Fi on arrival. */
const traveler: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => homeClient(r, u));
  let here = u.city;
  work(s, a, rng.int(2, 8));
  const legs = rng.chance(0.3) ? 2 : 1;
  for (let leg = 0; leg < legs; leg++) {
    const options = nearby(here);
    if (options.length === 0) break;
    const sameCountry = options.filter((c) => c.country === here.country);
    const dest = rng.pick(sameCountry.length > 0 ? sameCountry : options);
    const hours = distanceKm(here, dest) / rng.float(70, 220);
    const leave = a.t;
    const stops = rng.int(0, 3);
    for (let k = 1; k <= stops; k++) {
      // Roaming keeps the home carrier, so the address stays the home carrier's.
      const f = k / (stops + 1);
      const p = between(here, dest, f);
      a.t = leave + f * hours * 3_600_000;
      a.client = client(rng, {
        net: u.mobile,
        place: { name: 'en route', country: u.mobile.country, lat: p.lat, lon: p.lon },
        agent: u.desktop,
        device: u.desktopDevice,
        lang: u.acceptLanguage,
        maxKm: 0,
      });
      a.everyday();
    }
    a.t = leave + hours * 3_600_000 + rng.int(5, 40) * 60_000;
    const hotel = networksIn(dest.country, 'residential');
    a.client =
      hotel.length > 0 && rng.chance(0.7)
        ? client(rng, {
            net: rng.pick(hotel),
            place: dest,
            agent: u.desktop,
            device: u.desktopDevice,
            lang: u.acceptLanguage,
          })
        : vpnClient(rng, { ...u, city: dest });
    work(s, a, rng.int(2, 10));
    here = dest;
  }
  maybeLogout(s, a);
  return s.events();
};

/** Many tabs, high action rates, bursts of clicks between pauses. */
const powerUser: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => deskClient(r, u));
  const n = sessionLength(rng, 70, 300);
  for (let done = 0; done < n;) {
    const k = Math.min(rng.int(5, 20), n - done);
    a.pace = 'burst';
    work(s, a, k);
    a.pace = 'human';
    a.wait(gapMs(rng, 'human', 0.02));
    done += k;
  }
  maybeLogout(s, a);
  return s.events();
};

/** An administrator doing legitimate privileged work after MFA, sometimes re-verified. */
const admin: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => (r.chance(0.7) ? vpnClient(r, u) : homeClient(r, u)));
  const allowed = ['permission_change', 'config_change', 'api_token_create'].filter((x) =>
    s.app.sensitive.includes(x),
  );
  const n = sessionLength(rng, 20);
  for (let i = 0; i < n; i++) {
    if (allowed.length > 0 && rng.chance(0.12)) {
      if (rng.chance(0.3)) a.act('step_up_passed');
      a.act(rng.pick(allowed));
    } else a.everyday();
  }
  maybeLogout(s, a);
  return s.events();
};

/** A manager clearing the Workday inbox: open, approve, next. */
const approver: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => deskClient(r, u), 'workday');
  work(s, a, rng.int(1, 5), { sensitiveRate: 0 });
  const bursts = rng.int(1, 2);
  for (let b = 0; b < bursts; b++) {
    a.pace = 'burst';
    for (let k = rng.int(4, 20); k > 0; k--) {
      const item = s.app.resource(rng, 'approve');
      a.act('view', { resource: item });
      a.act('approve', { resource: item, records: 1 });
    }
    a.pace = 'human';
    work(s, a, rng.int(1, 6), { sensitiveRate: 0 });
  }
  maybeLogout(s, a);
  return s.events();
};

/** A contractor: own laptop at home, the odd modest export. */
const contractor: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => (r.chance(0.8) ? homeClient(r, u) : phoneClient(r, u)));
  const n = sessionLength(rng);
  const exportAt = new Set(Array.from({ length: rng.int(1, 3) }, () => rng.int(0, n - 1)));
  work(s, a, n, {
    sensitiveRate: 0,
    before: (i) => {
      if (exportAt.has(i)) a.act('export', { records: rng.int(50, 2000) });
    },
  });
  maybeLogout(s, a);
  return s.events();
};

/** A service principal: one cloud host, a scripted client, steady API calls. */
const serviceAccount: Scenario = (rng, t0, u) => {
  const c = client(rng, {
    net: u.home,
    place: u.city,
    agent: u.desktop,
    device: null,
    lang: null,
    ip: u.homeIp,
  });
  const { s, a } = begin(rng, t0, u, () => c);
  a.idleChance = 0;
  a.pace = 'script';
  const period = rng.int(5, 60) * 1000;
  for (let i = rng.int(20, 120); i > 0; i--) {
    a.wait(period * rng.float(0.9, 1.1));
    if (rng.chance(0.05)) a.act('export', { records: Math.round(rng.logNormal(2000, 0.8)) });
    else a.everyday();
  }
  maybeLogout(s, a, 0.5);
  return s.events();
};

/**
 * The company's SASE moves the user's egress to another POP (load balancing, a POP outage):
 * same provider ASN, same laptop and browser, but the address now geolocates to another city,
 * sometimes another country, minutes later. Geo-IP says "impossible travel"; nothing else moved.
 */
const saseRoaming: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => vpnClient(r, u));
  const pops = SASE_PROVIDERS[u.sase].flatMap((net) => (net.pops ?? []).map((pop) => ({ net, pop })));
  const n = Math.max(6, sessionLength(rng, 24));
  const moves = new Set([rng.int(1, n - 2), ...(rng.chance(0.4) ? [rng.int(1, n - 1)] : [])]);
  const nearFirst = [...pops].sort((x, y) => distanceKm(u.city, x.pop) - distanceKm(u.city, y.pop));
  work(s, a, n, {
    before: (i) => {
      if (!moves.has(i)) return;
      // Usually the next-nearest POP, now and then any POP of the provider (a failover).
      const { net, pop } = rng.chance(0.7) ? rng.pick(nearFirst.slice(1, 4)) : rng.pick(pops);
      a.client = client(rng, {
        net,
        place: pop,
        agent: u.desktop,
        device: u.desktopDevice,
        lang: u.acceptLanguage,
      });
    },
  });
  maybeLogout(s, a);
  return s.events();
};

/**
 * A working day in one session: the morning at the office (on the VPN), meetings and lunch as
 * idle gaps of one to three hours, the laptop carried home, the afternoon on home broadband or the
 * phone's hotspot. Same laptop and browser all day.
 */
const longSession: Scenario = (rng, t0, u) => {
  const { s, a } = begin(rng, t0, u, (r) => vpnClient(r, u));
  a.idleChance = 0.05;
  const blocks = rng.int(2, 4);
  for (let b = 0; b < blocks; b++) {
    work(s, a, rng.int(4, 18));
    a.wait(rng.int(60, 180) * 60_000);
    if (b === blocks - 2) {
      // Went home: home broadband, or tethered to the phone's carrier, with the same laptop.
      a.client = rng.chance(0.75)
        ? homeClient(rng, u)
        : client(rng, {
            net: u.mobile,
            place: u.city,
            agent: u.desktop,
            device: u.desktopDevice,
            lang: u.acceptLanguage,
            maxKm: 3,
          });
    }
  }
  work(s, a, rng.int(3, 12));
  maybeLogout(s, a, 0.4);
  return s.events();
};

/** An analyst who exports reports as part of the job: a few thousand rows at a time. */
const analyst: Scenario = (rng, t0, u) => {
  const app = rng.weighted([
    ['salesforce', 5],
    ['snowflake', 5],
  ] as const);
  const { s, a } = begin(rng, t0, u, (r) => deskClient(r, u), app);
  const n = sessionLength(rng, 20);
  const exportAt = new Set(Array.from({ length: rng.int(1, 4) }, () => rng.int(1, n - 1)));
  work(s, a, n, {
    sensitiveRate: 0,
    before: (i) => {
      if (exportAt.has(i)) {
        a.act('export', { records: Math.round(Math.min(9_000, Math.max(100, rng.logNormal(1_500, 0.9)))) });
      }
    },
  });
  maybeLogout(s, a);
  return s.events();
};

export const BENIGN: Readonly<Record<BenignScenario, Scenario>> = {
  office_worker: officeWorker,
  mobile_user: mobileUser,
  vpn_toggler: vpnToggler,
  browser_update: browserUpdate,
  traveler,
  power_user: powerUser,
  admin,
  approver,
  contractor,
  service_account: serviceAccount,
  sase_roaming: saseRoaming,
  long_session: longSession,
  analyst,
};
