import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { RiskStreamError } from '../errors';
import type { Logger } from '../log';
import type { SetClaims } from './set';
import { SET_TYP } from './set';
import type { CaepSettings } from './settings';

/**
 * The transmitter's signing key: a private JWK in caep.keyFile, generated on first start. Receivers
 * get the public half from /.well-known/jwks.json, found through the SSF configuration.
 */

/** A signing algorithm caep.alg accepts. */
export type CaepAlg = CaepSettings['alg'];

/** A loaded key: signs SETs, and shows only its public half. */
export interface SigningKey {
  alg: CaepAlg;
  /** The RFC 7638 thumbprint (SHA-256) of the public key; the `kid` of every SET. */
  kid: string;
  /** The public JWK with kid, alg and use, as /.well-known/jwks.json serves it. */
  publicJwk: JWK;
  /** A compact JWS: header {alg, typ: secevent+jwt, kid}, payload the claims. */
  sign(claims: SetClaims): Promise<string>;
}

/** JWK members that hold private key material (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const invalid = (file: string, what: string, cause?: unknown) =>
  new RiskStreamError('CONFIG_INVALID', `caep.keyFile ${file}: ${what}`, { cause });

const errorCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

/** Writes a new private key; `wx` so two instances starting at once never overwrite each other. */
async function generateKeyFile(file: string, alg: CaepAlg): Promise<boolean> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg };
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${JSON.stringify(jwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw invalid(file, `cannot write a new signing key: ${(err as Error).message}`, err);
  }
}

function parseJwk(file: string, text: string): JWK {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch (err) {
    throw invalid(file, `not JSON: ${(err as Error).message}`, err);
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk) || typeof (jwk as JWK).kty !== 'string') {
    throw invalid(file, 'not a JSON Web Key (a JSON object with "kty")');
  }
  return jwk as JWK;
}

/**
 * Loads the private key from `file`, or generates one for `alg` and writes it (mode 0600) when the
 * file does not exist. A file that cannot be read, is not a private JWK, or does not fit `alg`
 * fails with CONFIG_INVALID naming caep.keyFile and the file.
 */
export async function loadSigningKey(file: string, alg: CaepAlg, log?: Logger): Promise<SigningKey> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw invalid(file, `cannot read: ${(err as Error).message}`, err);
  }
  if (text === undefined) {
    const created = await generateKeyFile(file, alg);
    text = await readFile(file, 'utf8').catch((err: unknown) => {
      throw invalid(file, `cannot read: ${(err as Error).message}`, err);
    });
    if (created) log?.info({ keyFile: file, alg }, 'generated a CAEP signing key');
  }
  const jwk = parseJwk(file, text);
  if (typeof jwk.d !== 'string') throw invalid(file, 'holds no private key (no "d" member)');
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw invalid(file, `is a ${jwk.alg} key, but caep.alg is ${alg}`);
  }
  let privateKey: Awaited<ReturnType<typeof importJWK>>;
  try {
    privateKey = await importJWK(jwk, alg);
  } catch (err) {
    throw invalid(file, `not a usable ${alg} private key: ${(err as Error).message}`, err);
  }

  const mode = (await stat(file)).mode;
  if ((mode & 0o077) !== 0) {
    log?.warn({ keyFile: file, mode: (mode & 0o777).toString(8) }, 'CAEP signing key is readable by others');
  }

  const publicPart: JWK = { ...jwk };
  for (const m of PRIVATE_MEMBERS) delete publicPart[m];
  delete publicPart.key_ops;
  delete publicPart.ext;
  const kid = await calculateJwkThumbprint(publicPart, 'sha256');
  const publicJwk: JWK = { ...publicPart, kid, alg, use: 'sig' };

  return {
    alg,
    kid,
    publicJwk,
    sign: (claims) =>
      new SignJWT(claims as unknown as JWTPayload)
        .setProtectedHeader({ alg, typ: SET_TYP, kid })
        .sign(privateKey),
  };
}
