/**
 * HTTP clients: User-Agent strings and the JA4 TLS fingerprint each client really presents.
 * Same TLS stack, same JA4 family; a browser release that changes its ClientHello changes the
 * JA4 (Chrome 126, Firefox 127, Safari 18 here). Chrome on iOS is WebKit underneath, so it shows
 * Safari's JA4; headless Chrome shows Chrome's, which is why attackers like it.
 */
import type { Rng } from './rng';

export const FAMILIES = [
  'chrome',
  'edge',
  'firefox',
  'safari',
  'chrome_ios',
  'headless_chrome',
  'python_requests',
  'curl',
  'go_http',
  'boto3',
  'axios',
] as const;
export type Family = (typeof FAMILIES)[number];
export type Platform = 'windows' | 'macos' | 'linux' | 'ios' | 'android' | 'server';

export interface Agent {
  readonly family: Family;
  readonly platform: Platform;
  /** Release, as its vendor writes it; VERSIONS[family] lists them oldest first. */
  readonly version: string;
  readonly ua: string;
  readonly ja4: string;
  readonly scripted: boolean;
  readonly mobile: boolean;
}

export const VERSIONS: Readonly<Record<Family, readonly string[]>> = {
  chrome: ['124', '125', '126', '127'],
  edge: ['124', '125', '126', '127'],
  headless_chrome: ['124', '125', '126', '127'],
  firefox: ['125', '126', '127', '128'],
  safari: ['17.4', '17.5', '17.6', '18.0'],
  chrome_ios: ['125', '126', '127'],
  python_requests: ['2.31.0', '2.32.3'],
  curl: ['7.81.0', '8.5.0', '8.7.1'],
  go_http: ['1.1', '2.0'],
  boto3: ['1.34.69', '1.35.10'],
  axios: ['1.6.8', '1.7.2'],
};

const CHROME_BUILD: Readonly<Record<string, string>> = {
  '124': '6367.207',
  '125': '6422.142',
  '126': '6478.127',
  '127': '6533.89',
};
const EDGE_BUILD: Readonly<Record<string, string>> = {
  '124': '2478.80',
  '125': '2535.92',
  '126': '2592.87',
  '127': '2651.74',
};
const IOS_BUILD: Readonly<Record<string, string>> = {
  '17.4': '17_4_1',
  '17.5': '17_5_1',
  '17.6': '17_6',
  '18.0': '18_0',
};

const OS_TOKEN: Readonly<Record<Platform, string>> = {
  windows: 'Windows NT 10.0; Win64; x64',
  macos: 'Macintosh; Intel Mac OS X 10_15_7',
  linux: 'X11; Linux x86_64',
  ios: 'iPhone; CPU iPhone OS 17_5_1 like Mac OS X',
  android: 'Linux; Android 10; K',
  server: 'X11; Linux x86_64',
};

export const JA4 = {
  chrome: 't13d1516h2_8daaf6152771_02713d6af862',
  chrome126: 't13d1516h2_8daaf6152771_e5627efa2ab1',
  firefox: 't13d1715h2_5b57614c22b0_3d5424432f57',
  firefox127: 't13d1717h2_5b57614c22b0_7121afd63204',
  safari: 't13d2014h2_a09f3c656075_14788d8d241b',
  safari18: 't13d2013h2_a09f3c656075_7f0f34a4126d',
  python: 't13d411100_5ce5f4b2aa38_f0b6c8f1a2d3',
  curl: 't13d3113h2_e8f1e7e78f70_ce5650b735ce',
  curlOld: 't13d3112h2_e8f1e7e78f70_6bebaf5329ac',
  go: 't13d1312h2_f57a46bbacb6_e7c285222651',
  go11: 't13d1311h1_f57a46bbacb6_e7c285222651',
  node: 't13d1812h2_e8a523a41297_ef7df7f74e48',
} as const;

const major = (v: string) => Number(v.split('.')[0]);

function ja4Of(family: Family, version: string): string {
  switch (family) {
    case 'chrome':
    case 'edge':
    case 'headless_chrome':
      return major(version) >= 126 ? JA4.chrome126 : JA4.chrome;
    case 'firefox':
      return major(version) >= 127 ? JA4.firefox127 : JA4.firefox;
    case 'safari':
      return major(version) >= 18 ? JA4.safari18 : JA4.safari;
    case 'chrome_ios':
      return JA4.safari;
    case 'python_requests':
    case 'boto3':
      return JA4.python;
    case 'curl':
      return major(version) >= 8 ? JA4.curl : JA4.curlOld;
    case 'go_http':
      return version === '2.0' ? JA4.go : JA4.go11;
    case 'axios':
      return JA4.node;
    default:
      return family satisfies never;
  }
}

function uaOf(family: Family, platform: Platform, v: string): string {
  const os = OS_TOKEN[platform];
  switch (family) {
    case 'chrome':
      return platform === 'android'
        ? `Mozilla/5.0 (${os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Mobile Safari/537.36`
        : `Mozilla/5.0 (${os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Safari/537.36`;
    case 'edge':
      return `Mozilla/5.0 (${os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Safari/537.36 Edg/${v}.0.${EDGE_BUILD[v] ?? '0.0'}`;
    case 'headless_chrome':
      return `Mozilla/5.0 (${os}) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/${v}.0.${CHROME_BUILD[v] ?? '0.0'} Safari/537.36`;
    case 'firefox': {
      const fxOs = platform === 'macos' ? 'Macintosh; Intel Mac OS X 10.15' : os;
      return `Mozilla/5.0 (${fxOs}; rv:${v}.0) Gecko/20100101 Firefox/${v}.0`;
    }
    case 'safari':
      return platform === 'ios'
        ? `Mozilla/5.0 (iPhone; CPU iPhone OS ${IOS_BUILD[v] ?? '17_5_1'} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${v} Mobile/15E148 Safari/604.1`
        : `Mozilla/5.0 (${os}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${v} Safari/605.1.15`;
    case 'chrome_ios':
      return `Mozilla/5.0 (${os}) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/${v}.0.${CHROME_BUILD[v] ?? '0.0'} Mobile/15E148 Safari/604.1`;
    case 'python_requests':
      return `python-requests/${v}`;
    case 'curl':
      return `curl/${v}`;
    case 'go_http':
      return `Go-http-client/${v}`;
    case 'boto3':
      return `Boto3/${v} md/Botocore#${v} ua/2.0 os/linux#5.10.219-208.866.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/${v}`;
    case 'axios':
      return `axios/${v}`;
    default:
      return family satisfies never;
  }
}

const SCRIPTED: ReadonlySet<Family> = new Set([
  'headless_chrome',
  'python_requests',
  'curl',
  'go_http',
  'boto3',
  'axios',
]);

export function makeAgent(family: Family, platform: Platform, version: string): Agent {
  return {
    family,
    platform,
    version,
    ua: uaOf(family, platform, version),
    ja4: ja4Of(family, version),
    scripted: SCRIPTED.has(family),
    mobile: platform === 'ios' || platform === 'android',
  };
}

/** Recent releases are the common ones: most people auto-update. */
function version(rng: Rng, family: Family): string {
  const vs = VERSIONS[family];
  return rng.weighted(vs.map((v, i) => [v, i + 1] as const));
}

const DESKTOP: readonly (readonly [readonly [Family, Platform], number])[] = [
  [['chrome', 'windows'], 40],
  [['edge', 'windows'], 20],
  [['chrome', 'macos'], 15],
  [['safari', 'macos'], 10],
  [['firefox', 'windows'], 6],
  [['firefox', 'macos'], 3],
  [['chrome', 'linux'], 4],
  [['firefox', 'linux'], 2],
];

const MOBILE: readonly (readonly [readonly [Family, Platform], number])[] = [
  [['safari', 'ios'], 50],
  [['chrome', 'android'], 40],
  [['chrome_ios', 'ios'], 10],
];

export function desktopAgent(rng: Rng): Agent {
  const [family, platform] = rng.weighted(DESKTOP);
  return makeAgent(family, platform, version(rng, family));
}

export function mobileAgent(rng: Rng): Agent {
  const [family, platform] = rng.weighted(MOBILE);
  return makeAgent(family, platform, version(rng, family));
}

/** A non-browser client. */
export function scriptedAgent(
  rng: Rng,
  families: readonly Family[] = ['python_requests', 'curl', 'go_http'],
): Agent {
  const family = rng.pick(families);
  const platform: Platform = family === 'headless_chrome' ? 'linux' : 'server';
  return makeAgent(family, platform, version(rng, family));
}

/** The next release of the same browser on the same device, or null on the newest. */
export function upgraded(a: Agent): Agent | null {
  const vs = VERSIONS[a.family];
  const i = vs.indexOf(a.version);
  const next = vs[i + 1];
  return i < 0 || next === undefined ? null : makeAgent(a.family, a.platform, next);
}

/** What a browser sends as Accept-Language for a locale; scripted clients usually send none. */
export function acceptLanguageFor(agent: Agent, countryLanguage: string): string | null {
  if (!agent.scripted) return countryLanguage;
  return agent.family === 'headless_chrome' ? 'en-US,en;q=0.9' : null;
}
