import { readFileSync } from 'node:fs';
import { RiskStreamError } from '../errors';

/**
 * What kind of network an autonomous system is, the way a geo-IP "connection type" database
 * (IPinfo ASN type, MaxMind GeoIP2 ISP / Connection-Type) classes it. Token replay usually arrives
 * from a class the session never used: a cloud host, an anonymizing proxy, another household's ISP.
 *
 *  - isp:        fixed-line eyeball networks (home broadband, office lines). The default: most ASNs
 *                a session comes from are ISPs, and a table of every ISP in the world is not needed.
 *  - mobile:     mobile carriers (carrier-grade NAT, addresses move within a session).
 *  - hosting:    clouds and hosting providers: servers, not people.
 *  - anonymizer: networks that mostly carry commercial VPN / proxy exit traffic.
 *  - sase:       corporate secure-access egress (Zscaler, Netskope, Cloudflare One, ...): many POPs
 *                in many countries under one ASN, so the address's location jumps while nothing
 *                about the user moved.
 */
export const NETWORK_CLASSES = ['isp', 'mobile', 'hosting', 'anonymizer', 'sase'] as const;
export type NetworkClass = (typeof NETWORK_CLASSES)[number];

/**
 * The built-in table: well-known networks by ASN. Deliberately short; a deployment supplies its own
 * (`features.networkClassFile`, CSV `asn,class`), which is merged over this one.
 */
const BUILT_IN: Readonly<Record<Exclude<NetworkClass, 'isp'>, readonly number[]>> = {
  hosting: [
    16509,
    14618,
    8987, // Amazon
    15169,
    396982,
    19527, // Google
    8075,
    8068, // Microsoft
    14061, // DigitalOcean
    16276, // OVH
    24940, // Hetzner
    51167, // Contabo
    63949, // Akamai / Linode
    20473, // Vultr
    31898, // Oracle
    45102, // Alibaba
    132203, // Tencent
    12876, // Scaleway
    60781,
    16265, // Leaseweb
    8560, // IONOS
    49505, // Selectel
  ],
  anonymizer: [
    9009, // M247
    60068, // CDN77 / Datacamp
    212238, // Datacamp
    136787, // TEFINCOM (NordVPN)
    147049, // PacketHub
  ],
  sase: [
    22616,
    53813,
    62907, // Zscaler
    55256, // Netskope
    13335, // Cloudflare (Cloudflare One / WARP)
    54538, // Palo Alto Networks (Prisma Access)
  ],
  mobile: [
    21928, // T-Mobile US
    22394,
    6167, // Verizon Wireless
    20057, // AT&T Mobility
    852, // TELUS
    12576, // EE
    206067, // Three UK
    25135, // Vodafone UK
    6805, // Telefonica O2 DE
    51207, // Free Mobile
    5410, // Bouygues Telecom
    31615, // Odido (T-Mobile NL)
    12430, // Vodafone ES
    30722, // Vodafone IT
    12912, // T-Mobile PL
    55836, // Reliance Jio
    45609, // Bharti Airtel mobility
    9605, // NTT Docomo
    2516, // KDDI
    4773, // M1 (MobileOne)
    4804, // Optus
    133612, // Vodafone AU
    26599, // TIM Brasil
    8359, // MTS
    29465, // MTN Nigeria
    36873, // Airtel Nigeria
  ],
};

function builtIn(): Map<number, NetworkClass> {
  const table = new Map<number, NetworkClass>();
  for (const [cls, asns] of Object.entries(BUILT_IN))
    for (const asn of asns) table.set(asn, cls as NetworkClass);
  return table;
}

let table = builtIn();

/** The class of an ASN: from the table, else 'isp'; null when the ASN is unknown. */
export function networkClass(asn: number | null): NetworkClass | null {
  return asn === null ? null : (table.get(asn) ?? 'isp');
}

/**
 * Reads a CSV of `asn,class` lines (a header line, blank lines and `#` comments are skipped) and
 * merges it over the built-in table for this process. Errors name the file and the line.
 */
export function loadNetworkClasses(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskStreamError(
      'CONFIG_INVALID',
      `features.networkClassFile ${file}: ${(err as Error).message}`,
    );
  }
  const next = builtIn();
  let rows = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || (i === 0 && /^asn\s*,/i.test(line))) return;
    const [asnText = '', clsText = ''] = line.split(',').map((x) => x.trim());
    const asn = Number(asnText.replace(/^AS/i, ''));
    if (!Number.isSafeInteger(asn) || asn < 0) {
      throw new RiskStreamError('CONFIG_INVALID', `${file}:${i + 1}: "${asnText}" is not an ASN`);
    }
    if (!(NETWORK_CLASSES as readonly string[]).includes(clsText)) {
      throw new RiskStreamError(
        'CONFIG_INVALID',
        `${file}:${i + 1}: class "${clsText}" is not one of ${NETWORK_CLASSES.join(', ')}`,
      );
    }
    next.set(asn, clsText as NetworkClass);
    rows++;
  });
  table = next;
  return rows;
}

/** Back to the built-in table (tests). */
export function resetNetworkClasses(): void {
  table = builtIn();
}
