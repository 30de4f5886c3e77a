/**
 * A small seeded PRNG (sfc32, seeded through cyrb128) and the draws the simulator needs.
 * Everything the simulator produces is a function of the seed; Math.random is never used.
 */

export type Seed = number | string;

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex32(x: number): string {
  return `${HEX[x >>> 24]}${HEX[(x >>> 16) & 0xff]}${HEX[(x >>> 8) & 0xff]}${HEX[x & 0xff]}`;
}

/** Hashes a string into four 32-bit words (cyrb128), spreading nearby seeds far apart. */
function cyrb128(str: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: Seed | readonly [number, number, number, number]) {
    const s = typeof seed === 'object' ? seed : cyrb128(`risk-stream-sim:${seed}`);
    [this.a, this.b, this.c, this.d] = s;
    // sfc32 needs a few rounds before its output stops resembling the seed.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** An independent generator seeded from this one: lets each session own its stream. */
  fork(): Rng {
    return new Rng([this.u32(), this.u32(), this.u32(), this.u32()]);
  }

  u32(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  float(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Picks by weight; entries with weight 0 are never picked. */
  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of entries) total += w;
    if (!(total > 0)) throw new RangeError('weighted pick with no positive weight');
    let x = this.next() * total;
    for (const [item, w] of entries) {
      x -= w;
      if (x < 0 && w > 0) return item;
    }
    // Floating-point leftovers: the last entry with a positive weight.
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i] as readonly [T, number];
      if (e[1] > 0) return e[0];
    }
    throw new RangeError('unreachable');
  }

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median; sigma is the spread of the underlying normal. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** n lowercase hex characters. */
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += hex32(this.u32());
    return s.length === n ? s : s.slice(0, n);
  }

  /** RFC 4122 version 4 UUID (version nibble 4, variant bits 10). */
  uuid(): string {
    const words = [this.u32(), this.u32(), this.u32(), this.u32()];
    // Built from char codes: a flat string, not a rope of 10 pieces (matters for 1M events).
    const codes: number[] = [];
    for (let i = 0; i < 32; i++) {
      let nibble = ((words[i >> 3] as number) >>> (28 - 4 * (i & 7))) & 0xf;
      if (i === 12) nibble = 4; // version
      if (i === 16) nibble = (nibble & 0x3) | 0x8; // variant 10xx
      if (i === 8 || i === 12 || i === 16 || i === 20) codes.push(45); // '-'
      codes.push(nibble < 10 ? 48 + nibble : 87 + nibble);
    }
    return String.fromCharCode(...codes);
  }
}
