/**
 * Autonomous systems the simulated traffic comes from, by class, each with the address blocks
 * addresses are drawn from. Numbers and organisations are the real ones; the blocks are ones those
 * networks announce (or plausible for them), kept coarse: a simulator, not a geo-IP database.
 */
import { type City, cityNamed, countryOf, distanceKm, type Point } from './geo';
import type { Rng } from './rng';

export const NET_CLASSES = ['residential', 'mobile', 'hosting', 'corporate_vpn', 'proxy'] as const;
export type NetClass = (typeof NET_CLASSES)[number];

export interface Network {
  readonly asn: number;
  readonly org: string;
  readonly country: string;
  readonly cls: NetClass;
  /** IPv4 blocks, CIDR. */
  readonly v4: readonly string[];
  /** First two groups of an IPv6 /32 the network also uses, or null. */
  readonly v6: string | null;
  /**
   * Where this network's addresses geolocate: data-centre or POP cities. Null for eyeball
   * networks (residential, mobile), whose addresses geolocate to the subscriber's city.
   */
  readonly pops: readonly City[] | null;
}

function net(
  asn: number,
  org: string,
  country: string,
  cls: NetClass,
  v4: string,
  v6: string | null = null,
  pops?: string,
): Network {
  return {
    asn,
    org,
    country,
    cls,
    v4: v4.split(' '),
    v6,
    pops: pops === undefined ? null : pops.split(',').map(cityNamed),
  };
}

/** One ASN present in many countries: row i gets the /20 at `<base>.<16*i>.0`. */
function regional(
  asn: number,
  org: string,
  cls: NetClass,
  base: string,
  rows: readonly (readonly [string, string])[],
): Network[] {
  return rows.map(([cc, pops], i) => net(asn, org, cc, cls, `${base}.${16 * i}.0/20`, null, pops));
}

const EYEBALL: readonly Network[] = [
  net(7922, 'COMCAST-7922', 'US', 'residential', '73.0.0.0/9 98.192.0.0/10', '2601:1c0'),
  net(7018, 'ATT-INTERNET4', 'US', 'residential', '99.0.0.0/10 76.192.0.0/11', '2600:1700'),
  net(701, 'UUNET (Verizon Fios)', 'US', 'residential', '96.224.0.0/11 71.160.0.0/12', '2600:4040'),
  net(20115, 'CHARTER-20115', 'US', 'residential', '75.128.0.0/12 24.240.0.0/13', '2603:6000'),
  net(22773, 'ASN-CXA-ALL-CCI-22773-RDC (Cox)', 'US', 'residential', '68.96.0.0/12', '2600:8800'),
  net(21928, 'T-MOBILE-AS21928', 'US', 'mobile', '172.32.0.0/11', '2607:fb90'),
  net(22394, 'CELLCO (Verizon Wireless)', 'US', 'mobile', '174.192.0.0/10', '2600:1010'),
  net(20057, 'ATT-MOBILITY-LLC-AS20057', 'US', 'mobile', '166.128.0.0/9', '2600:380'),
  net(812, 'ROGERS-COMMUNICATIONS', 'CA', 'residential', '99.224.0.0/11', '2607:fea8'),
  net(577, 'BACOM (Bell Canada)', 'CA', 'residential', '70.48.0.0/13 174.88.0.0/13'),
  net(6327, 'SHAW', 'CA', 'residential', '24.64.0.0/13'),
  net(852, 'ASN852 (TELUS)', 'CA', 'mobile', '154.20.0.0/15'),
  net(2856, 'BT-UK-AS', 'GB', 'residential', '86.128.0.0/10 81.128.0.0/11', '2a00:23c0'),
  net(5089, 'NTL (Virgin Media)', 'GB', 'residential', '82.0.0.0/13 86.0.0.0/12'),
  net(5607, 'BSKYB-BROADBAND-AS (Sky)', 'GB', 'residential', '2.24.0.0/13 90.192.0.0/11'),
  net(12576, 'EE', 'GB', 'mobile', '31.94.0.0/16 213.205.192.0/18'),
  net(206067, 'H3GUK (Three UK)', 'GB', 'mobile', '92.40.0.0/14'),
  net(25135, 'VODAFONE_UK_ASN', 'GB', 'mobile', '85.255.232.0/21'),
  net(3320, 'DTAG (Deutsche Telekom)', 'DE', 'residential', '79.192.0.0/10 87.128.0.0/10', '2003:e2'),
  net(3209, 'VODANET (Vodafone DE)', 'DE', 'residential', '88.64.0.0/12', '2a02:8070'),
  net(8881, 'VERSATEL (1&1)', 'DE', 'residential', '62.214.0.0/16'),
  net(6805, 'TDDE-ASN1 (Telefonica O2)', 'DE', 'mobile', '176.0.0.0/14', '2a01:598'),
  net(3215, 'FRANCE-TELECOM (Orange)', 'FR', 'residential', '90.0.0.0/9', '2a01:cb00'),
  net(12322, 'PROXAD (Free)', 'FR', 'residential', '78.192.0.0/10 82.64.0.0/14', '2a01:e0a'),
  net(15557, 'LDCOMNET (SFR)', 'FR', 'residential', '77.128.0.0/11'),
  net(51207, 'FREEM (Free Mobile)', 'FR', 'mobile', '37.160.0.0/12', '2a04:cec0'),
  net(5410, 'BOUYGTEL-ISP', 'FR', 'mobile', '176.128.0.0/10'),
  net(1136, 'KPN', 'NL', 'residential', '77.160.0.0/12', '2a02:a40'),
  net(33915, 'TNF-AS (Ziggo)', 'NL', 'residential', '84.24.0.0/13'),
  net(31615, 'ODIDO (T-Mobile NL)', 'NL', 'mobile', '31.20.0.0/14'),
  net(3352, 'TELEFONICA_DE_ESPANA', 'ES', 'residential', '83.32.0.0/11 88.0.0.0/11'),
  net(12479, 'UNI2-AS (Orange ES)', 'ES', 'residential', '90.160.0.0/11'),
  net(12430, 'VODAFONE_ES', 'ES', 'mobile', '37.132.0.0/14'),
  net(3269, 'ASN-IBSNAZ (TIM)', 'IT', 'residential', '79.0.0.0/12 87.0.0.0/13'),
  net(1267, 'ASN-WINDTRE', 'IT', 'residential', '151.0.0.0/10'),
  net(30722, 'VODAFONE-IT-ASN', 'IT', 'mobile', '2.32.0.0/12'),
  net(5617, 'TPNET (Orange Polska)', 'PL', 'residential', '83.0.0.0/11'),
  net(12741, 'AS-NETIA', 'PL', 'residential', '77.112.0.0/12'),
  net(12912, 'ERA (T-Mobile PL)', 'PL', 'mobile', '31.0.0.0/14'),
  net(24560, 'AIRTELBROADBAND-AS-AP', 'IN', 'residential', '122.160.0.0/12'),
  net(9829, 'BSNL-NIB', 'IN', 'residential', '117.192.0.0/10'),
  net(55836, 'RELIANCEJIO-IN', 'IN', 'mobile', '49.32.0.0/11', '2409:4040'),
  net(45609, 'BHARTI-MOBILITY-AS-AP', 'IN', 'mobile', '106.192.0.0/11', '2401:4900'),
  net(4713, 'OCN (NTT)', 'JP', 'residential', '114.144.0.0/12'),
  net(17676, 'GIGAINFRA (SoftBank)', 'JP', 'residential', '126.0.0.0/8'),
  net(9605, 'DOCOMO', 'JP', 'mobile', '1.72.0.0/13 49.96.0.0/12'),
  net(2516, 'KDDI', 'JP', 'mobile', '106.128.0.0/11'),
  net(9506, 'SINGTEL-FIBRE', 'SG', 'residential', '116.14.0.0/15'),
  net(55430, 'STARHUB-NGNBN', 'SG', 'residential', '27.104.0.0/14'),
  net(4773, 'MOBILEONE', 'SG', 'mobile', '111.65.0.0/16'),
  net(1221, 'ASN-TELSTRA', 'AU', 'residential', '101.160.0.0/11'),
  net(7545, 'TPG-INTERNET-AP', 'AU', 'residential', '110.174.0.0/15'),
  net(4804, 'MPX-AS (Optus)', 'AU', 'mobile', '49.176.0.0/12'),
  net(133612, 'VODAFONE-AS-AP', 'AU', 'mobile', '120.16.0.0/13'),
  net(28573, 'CLARO S.A.', 'BR', 'residential', '177.0.0.0/14'),
  net(18881, 'TELEFONICA BRASIL (Vivo)', 'BR', 'residential', '177.32.0.0/11'),
  net(26599, 'TIM S/A', 'BR', 'mobile', '187.24.0.0/14'),
  net(12389, 'ROSTELECOM-AS', 'RU', 'residential', '5.136.0.0/13'),
  net(3216, 'SOVAM-AS (Beeline)', 'RU', 'residential', '95.24.0.0/13'),
  net(8359, 'MTS', 'RU', 'mobile', '213.87.128.0/17'),
  net(37282, 'MAINONE', 'NG', 'residential', '41.75.80.0/20'),
  net(29465, 'MTN-NG', 'NG', 'mobile', '102.88.0.0/14'),
  net(36873, 'CELTEL-NIGERIA (Airtel)', 'NG', 'mobile', '105.112.0.0/12'),
  net(45899, 'VNPT-AS-VN', 'VN', 'residential', '113.160.0.0/11'),
  net(7552, 'VIETEL-AS-AP', 'VN', 'residential', '27.64.0.0/12'),
  net(18403, 'FPT-AS-AP', 'VN', 'residential', '42.112.0.0/13'),
  net(8708, 'RCS-RDS', 'RO', 'residential', '86.120.0.0/13 79.112.0.0/13'),
];

const HOSTING: readonly Network[] = [
  net(16509, 'AMAZON-02', 'US', 'hosting', '3.80.0.0/12 54.144.0.0/12', '2600:1f18', 'Ashburn'),
  net(16509, 'AMAZON-02', 'CA', 'hosting', '3.96.0.0/14', null, 'Montreal'),
  net(16509, 'AMAZON-02', 'GB', 'hosting', '3.8.0.0/14', null, 'London'),
  net(16509, 'AMAZON-02', 'DE', 'hosting', '3.64.0.0/12', '2a05:d014', 'Frankfurt'),
  net(16509, 'AMAZON-02', 'FR', 'hosting', '13.36.0.0/14', null, 'Paris'),
  net(16509, 'AMAZON-02', 'IN', 'hosting', '13.232.0.0/14', null, 'Mumbai'),
  net(16509, 'AMAZON-02', 'JP', 'hosting', '13.112.0.0/14', null, 'Tokyo'),
  net(16509, 'AMAZON-02', 'SG', 'hosting', '13.212.0.0/15', null, 'Singapore'),
  net(16509, 'AMAZON-02', 'AU', 'hosting', '13.236.0.0/14', null, 'Sydney'),
  net(16509, 'AMAZON-02', 'BR', 'hosting', '18.228.0.0/16', null, 'Sao Paulo'),
  net(396982, 'GOOGLE-CLOUD-PLATFORM', 'US', 'hosting', '34.16.0.0/12 35.184.0.0/13', null, 'Dallas'),
  net(8075, 'MICROSOFT-CORP-MSN-AS-BLOCK', 'US', 'hosting', '20.36.0.0/14 40.76.0.0/14', null, 'Ashburn'),
  net(8075, 'MICROSOFT-CORP-MSN-AS-BLOCK', 'NL', 'hosting', '20.50.0.0/16', null, 'Amsterdam'),
  net(
    14061,
    'DIGITALOCEAN-ASN',
    'US',
    'hosting',
    '159.203.0.0/16 167.99.0.0/16',
    '2604:a880',
    'New York,San Francisco',
  ),
  net(14061, 'DIGITALOCEAN-ASN', 'NL', 'hosting', '188.166.0.0/16', null, 'Amsterdam'),
  net(14061, 'DIGITALOCEAN-ASN', 'DE', 'hosting', '46.101.128.0/17', null, 'Frankfurt'),
  net(14061, 'DIGITALOCEAN-ASN', 'GB', 'hosting', '178.62.0.0/16', null, 'London'),
  net(14061, 'DIGITALOCEAN-ASN', 'SG', 'hosting', '128.199.0.0/16', null, 'Singapore'),
  net(14061, 'DIGITALOCEAN-ASN', 'IN', 'hosting', '139.59.0.0/16', null, 'Bengaluru'),
  net(
    24940,
    'HETZNER-AS',
    'DE',
    'hosting',
    '88.198.0.0/16 78.46.0.0/15',
    '2a01:4f8',
    'Falkenstein,Nuremberg',
  ),
  net(51167, 'CONTABO', 'DE', 'hosting', '173.212.192.0/18 207.180.192.0/18', null, 'Nuremberg'),
  net(16276, 'OVH', 'FR', 'hosting', '51.68.0.0/16 54.36.0.0/16', '2001:41d0', 'Roubaix'),
  net(16276, 'OVH', 'CA', 'hosting', '144.217.0.0/16', null, 'Beauharnois'),
  net(63949, 'AKAMAI-LINODE-AP', 'US', 'hosting', '45.79.0.0/16', null, 'New York'),
  net(63949, 'AKAMAI-LINODE-AP', 'JP', 'hosting', '139.162.64.0/19', null, 'Tokyo'),
  net(20473, 'AS-VULTR', 'US', 'hosting', '45.32.0.0/16 149.28.0.0/16', null, 'Dallas,Seattle'),
  net(20473, 'AS-VULTR', 'NL', 'hosting', '95.179.128.0/17', null, 'Amsterdam'),
  net(49505, 'SELECTEL', 'RU', 'hosting', '5.188.0.0/16', null, 'Saint Petersburg'),
];

/** Commercial VPN exits and proxy providers: where replayed tokens like to come from. */
const PROXY: readonly Network[] = [
  net(9009, 'M247', 'RO', 'proxy', '146.70.0.0/18', null, 'Bucharest'),
  net(9009, 'M247', 'GB', 'proxy', '146.70.64.0/18', null, 'London,Manchester'),
  net(9009, 'M247', 'NL', 'proxy', '146.70.128.0/18', null, 'Amsterdam'),
  net(9009, 'M247', 'US', 'proxy', '146.70.192.0/18', null, 'New York,Dallas'),
  net(60068, 'CDN77 / DATACAMP', 'GB', 'proxy', '89.187.160.0/20', null, 'London'),
  net(60068, 'CDN77 / DATACAMP', 'US', 'proxy', '89.187.176.0/20', null, 'New York'),
  net(60068, 'CDN77 / DATACAMP', 'DE', 'proxy', '138.199.0.0/19', null, 'Frankfurt'),
  net(60068, 'CDN77 / DATACAMP', 'NL', 'proxy', '138.199.32.0/19', null, 'Amsterdam'),
];

/**
 * SASE vendors run POPs in most metros, and geo-IP places their egress there: a VPN toggle changes
 * the ASN and address, not (much) the location.
 */
const BENIGN_POPS: readonly (readonly [string, string])[] = [
  'US',
  'CA',
  'GB',
  'DE',
  'FR',
  'NL',
  'ES',
  'IT',
  'PL',
  'IN',
  'JP',
  'SG',
  'AU',
  'BR',
  'RO',
  'VN',
].map(
  (cc) =>
    [
      cc,
      countryOf(cc)
        .cities.map((c) => c.name)
        .join(','),
    ] as const,
);

/** Corporate VPN / SASE egress: the company's traffic leaves through the provider's nearest POP. */
export const SASE_PROVIDERS = {
  zscaler: regional(22616, 'ZSCALER-SJC1', 'corporate_vpn', '165.225', BENIGN_POPS),
  netskope: regional(55256, 'NETSKOPE', 'corporate_vpn', '163.116', BENIGN_POPS),
  cloudflare: regional(13335, 'CLOUDFLARENET (Cloudflare One)', 'corporate_vpn', '104.28', BENIGN_POPS),
} as const;
export type SaseProvider = keyof typeof SASE_PROVIDERS;

export const NETWORKS: readonly Network[] = [
  ...EYEBALL,
  ...HOSTING,
  ...PROXY,
  ...Object.values(SASE_PROVIDERS).flat(),
];

export function networksIn(country: string, cls: NetClass): readonly Network[] {
  return NETWORKS.filter((n) => n.country === country && n.cls === cls);
}

export function networksOf(cls: NetClass): readonly Network[] {
  return NETWORKS.filter((n) => n.cls === cls);
}

/** The network of a class in the country, falling back to any country's when it has none. */
export function pickNetwork(rng: Rng, country: string, cls: NetClass): Network {
  const local = networksIn(country, cls);
  return rng.pick(local.length > 0 ? local : networksOf(cls));
}

/** The provider's POP network nearest to a place (a user is routed to the closest egress). */
export function nearestPop(provider: SaseProvider, near: Point): { net: Network; pop: City } {
  let best: { net: Network; pop: City } | null = null;
  let bestKm = Infinity;
  for (const n of SASE_PROVIDERS[provider]) {
    for (const pop of n.pops ?? []) {
      const km = distanceKm(near, pop);
      if (km < bestKm) [best, bestKm] = [{ net: n, pop }, km];
    }
  }
  if (best === null) throw new RangeError(`provider ${provider} has no POPs`);
  return best;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function intToIpv4(n: number): string {
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

/** A host address inside one of the network's blocks (never a .0 or .255 octet at the end). */
export function randomIp(rng: Rng, net: Network, v6 = false): string {
  if (v6 && net.v6 !== null) {
    const groups = Array.from({ length: 6 }, () => rng.int(0, 0xffff).toString(16));
    return `${net.v6}:${groups.join(':')}`;
  }
  const [base, len] = rng.pick(net.v4).split('/') as [string, string];
  const size = 2 ** (32 - Number(len));
  for (;;) {
    const n = ipv4ToInt(base) + rng.int(1, size - 2);
    if (n % 256 !== 0 && n % 256 !== 255) return intToIpv4(n);
  }
}
