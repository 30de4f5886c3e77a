/**
 * Countries and cities (real coordinates) the simulated users live in, travel between and get
 * attacked from, with each country's usual Accept-Language header.
 */
import type { Rng } from './rng';

export interface Point {
  readonly lat: number;
  readonly lon: number;
}

export interface City extends Point {
  readonly name: string;
  readonly country: string;
}

export interface Country {
  readonly code: string;
  readonly name: string;
  readonly acceptLanguage: string;
  readonly cities: readonly City[];
}

type CityRow = readonly [name: string, lat: number, lon: number];

function country(code: string, name: string, acceptLanguage: string, rows: readonly CityRow[]): Country {
  return {
    code,
    name,
    acceptLanguage,
    cities: rows.map(([n, lat, lon]) => ({ name: n, country: code, lat, lon })),
  };
}

export const COUNTRIES: readonly Country[] = [
  country('US', 'United States', 'en-US,en;q=0.9', [
    ['New York', 40.7128, -74.006],
    ['Philadelphia', 39.9526, -75.1652],
    ['Washington', 38.9072, -77.0369],
    ['Ashburn', 39.0438, -77.4874],
    ['Boston', 42.3601, -71.0589],
    ['Chicago', 41.8781, -87.6298],
    ['Austin', 30.2672, -97.7431],
    ['Dallas', 32.7767, -96.797],
    ['San Francisco', 37.7749, -122.4194],
    ['San Jose', 37.3382, -121.8863],
    ['Seattle', 47.6062, -122.3321],
  ]),
  country('CA', 'Canada', 'en-CA,en;q=0.9,fr-CA;q=0.8', [
    ['Toronto', 43.6532, -79.3832],
    ['Ottawa', 45.4215, -75.6972],
    ['Montreal', 45.5019, -73.5674],
    ['Beauharnois', 45.3151, -73.8779],
    ['Vancouver', 49.2827, -123.1207],
  ]),
  country('GB', 'United Kingdom', 'en-GB,en;q=0.9', [
    ['London', 51.5074, -0.1278],
    ['Birmingham', 52.4862, -1.8904],
    ['Manchester', 53.4808, -2.2426],
    ['Edinburgh', 55.9533, -3.1883],
  ]),
  country('DE', 'Germany', 'de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Berlin', 52.52, 13.405],
    ['Hamburg', 53.5511, 9.9937],
    ['Frankfurt', 50.1109, 8.6821],
    ['Cologne', 50.9375, 6.9603],
    ['Munich', 48.1351, 11.582],
    ['Nuremberg', 49.4521, 11.0767],
    ['Falkenstein', 50.4779, 12.3713],
  ]),
  country('FR', 'France', 'fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Paris', 48.8566, 2.3522],
    ['Lille', 50.6292, 3.0573],
    ['Roubaix', 50.6942, 3.1746],
    ['Lyon', 45.764, 4.8357],
    ['Marseille', 43.2965, 5.3698],
  ]),
  country('NL', 'Netherlands', 'nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Amsterdam', 52.3676, 4.9041],
    ['Rotterdam', 51.9244, 4.4777],
    ['Utrecht', 52.0907, 5.1214],
  ]),
  country('ES', 'Spain', 'es-ES,es;q=0.9,en;q=0.8', [
    ['Madrid', 40.4168, -3.7038],
    ['Barcelona', 41.3874, 2.1686],
    ['Valencia', 39.4699, -0.3763],
  ]),
  country('IT', 'Italy', 'it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Milan', 45.4642, 9.19],
    ['Turin', 45.0703, 7.6869],
    ['Rome', 41.9028, 12.4964],
  ]),
  country('PL', 'Poland', 'pl-PL,pl;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Warsaw', 52.2297, 21.0122],
    ['Krakow', 50.0647, 19.945],
    ['Wroclaw', 51.1079, 17.0385],
  ]),
  country('IN', 'India', 'en-IN,en-GB;q=0.9,en-US;q=0.8,en;q=0.7,hi;q=0.6', [
    ['Mumbai', 19.076, 72.8777],
    ['Pune', 18.5204, 73.8567],
    ['Bengaluru', 12.9716, 77.5946],
    ['Hyderabad', 17.385, 78.4867],
  ]),
  country('JP', 'Japan', 'ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Tokyo', 35.6762, 139.6503],
    ['Yokohama', 35.4437, 139.638],
    ['Osaka', 34.6937, 135.5023],
  ]),
  country('SG', 'Singapore', 'en-SG,en-GB;q=0.9,en;q=0.8,zh-CN;q=0.7', [['Singapore', 1.3521, 103.8198]]),
  country('AU', 'Australia', 'en-AU,en;q=0.9', [
    ['Sydney', -33.8688, 151.2093],
    ['Canberra', -35.2809, 149.13],
    ['Melbourne', -37.8136, 144.9631],
  ]),
  country('BR', 'Brazil', 'pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Sao Paulo', -23.5505, -46.6333],
    ['Campinas', -22.9099, -47.0626],
    ['Rio de Janeiro', -22.9068, -43.1729],
  ]),
  country('RU', 'Russia', 'ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Moscow', 55.7558, 37.6173],
    ['Saint Petersburg', 59.9343, 30.3351],
  ]),
  country('NG', 'Nigeria', 'en-NG,en;q=0.9', [
    ['Lagos', 6.5244, 3.3792],
    ['Abuja', 9.0765, 7.3986],
  ]),
  country('VN', 'Vietnam', 'vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Hanoi', 21.0278, 105.8342],
    ['Ho Chi Minh City', 10.8231, 106.6297],
  ]),
  country('RO', 'Romania', 'ro-RO,ro;q=0.9,en-US;q=0.8,en;q=0.7', [
    ['Bucharest', 44.4268, 26.1025],
    ['Cluj-Napoca', 46.7712, 23.6236],
  ]),
];

const BY_CODE = new Map(COUNTRIES.map((c) => [c.code, c]));
const BY_CITY = new Map(COUNTRIES.flatMap((c) => c.cities.map((city) => [city.name, city] as const)));

export const CITIES: readonly City[] = COUNTRIES.flatMap((c) => c.cities);

export function countryOf(code: string): Country {
  const c = BY_CODE.get(code);
  if (c === undefined) throw new RangeError(`unknown country ${code}`);
  return c;
}

export function cityNamed(name: string): City {
  const c = BY_CITY.get(name);
  if (c === undefined) throw new RangeError(`unknown city ${name}`);
  return c;
}

/** Where employees live (weights roughly a US/EU-headquartered company with offshore teams). */
export const EMPLOYEE_COUNTRIES: readonly (readonly [string, number])[] = [
  ['US', 40],
  ['CA', 5],
  ['GB', 10],
  ['DE', 8],
  ['FR', 5],
  ['NL', 4],
  ['ES', 3],
  ['IT', 2],
  ['PL', 3],
  ['IN', 8],
  ['JP', 3],
  ['SG', 2],
  ['AU', 4],
  ['BR', 3],
];

export const CONTRACTOR_COUNTRIES: readonly (readonly [string, number])[] = [
  ['IN', 30],
  ['PL', 15],
  ['US', 15],
  ['BR', 10],
  ['RO', 10],
  ['GB', 5],
  ['ES', 5],
  ['VN', 5],
];

/** Where token replays come from when they do not come from a cloud or proxy near the victim. */
export const ATTACK_COUNTRIES: readonly (readonly [string, number])[] = [
  ['RU', 20],
  ['NG', 15],
  ['VN', 15],
  ['RO', 15],
  ['BR', 10],
  ['IN', 10],
  ['US', 5],
  ['NL', 5],
  ['DE', 5],
];

const EARTH_RADIUS_KM = 6371.0088;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance (haversine), in km. */
export function distanceKm(a: Point, b: Point): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** A point up to maxKm from p, rounded to 4 decimals as geo-IP databases report it. */
export function jitter(rng: Rng, p: Point, maxKm: number): Point {
  const km = maxKm * Math.sqrt(rng.next());
  const bearing = rng.float(0, 2 * Math.PI);
  const lat = p.lat + (km * Math.cos(bearing)) / 111.32;
  const lon = p.lon + (km * Math.sin(bearing)) / (111.32 * Math.max(0.1, Math.cos(rad(p.lat))));
  return { lat: round4(Math.max(-90, Math.min(90, lat))), lon: round4(((lon + 540) % 360) - 180) };
}

/** The point a fraction f of the way from a to b (straight line; fine for a few hundred km). */
export function between(a: Point, b: Point, f: number): Point {
  return { lat: round4(a.lat + (b.lat - a.lat) * f), lon: round4(a.lon + (b.lon - a.lon) * f) };
}
