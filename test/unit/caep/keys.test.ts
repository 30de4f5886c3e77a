import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
} from 'jose';
import type { JWK } from 'jose';
import { loadSigningKey } from '../../../src/caep/keys';
import type { SetClaims } from '../../../src/caep/set';
import { RiskStreamError } from '../../../src/errors';

const CLAIMS: SetClaims = {
  iss: 'https://risk.example.com',
  jti: 'j-1',
  iat: 1_700_000_000,
  aud: 'aud-1',
  txn: 'd-1',
  sub_id: { format: 'complex', session: { format: 'opaque', id: 's' }, user: { format: 'opaque', id: 'u' } },
  events: {},
};

/** Asserts the promise fails with CONFIG_INVALID naming caep.keyFile and the file. */
async function rejectsNaming(p: Promise<unknown>, file: string, what: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RiskStreamError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.ok(err.message.includes('caep.keyFile'), err.message);
    assert.ok(err.message.includes(file), err.message);
    assert.match(err.message, what);
    return true;
  });
}

describe('caep/keys', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'caep-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
    it(`generates a ${alg} key with mode 0600, reloads it, and signs SETs receivers can verify`, async () => {
      const file = join(dir, 'sub', 'key.json');
      const key = await loadSigningKey(file, alg);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as JWK;
      assert.equal(stored.alg, alg);
      assert.ok(typeof stored.d === 'string', 'the file holds the private key');

      // the public half only, with its thumbprint as kid
      const pub = key.publicJwk;
      for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(pub[m as keyof JWK], undefined, m);
      assert.equal(pub.kid, await calculateJwkThumbprint(pub));
      assert.equal(pub.kid, key.kid);
      assert.equal(pub.alg, alg);
      assert.equal(pub.use, 'sig');

      const again = await loadSigningKey(file, alg);
      assert.equal(again.kid, key.kid, 'the same key after a restart');

      const jws = await key.sign(CLAIMS);
      assert.deepEqual(decodeProtectedHeader(jws), { alg, typ: 'secevent+jwt', kid: key.kid });
      const { payload } = await jwtVerify(jws, await importJWK(pub, alg), { typ: 'secevent+jwt' });
      assert.deepEqual(payload, CLAIMS);
      assert.equal(payload.sub, undefined);
      assert.equal(payload.exp, undefined);
    });
  }

  it('loads a key written elsewhere (no alg member)', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const file = join(dir, 'k.json');
    writeFileSync(file, JSON.stringify(await exportJWK(privateKey)), { mode: 0o600 });
    const key = await loadSigningKey(file, 'ES256');
    assert.equal(key.publicJwk.crv, 'P-256');
  });

  it('fails start-up with CONFIG_INVALID naming caep.keyFile for a file that is not JSON', async () => {
    const file = join(dir, 'k.json');
    writeFileSync(file, 'not json');
    await rejectsNaming(loadSigningKey(file, 'ES256'), file, /not JSON/);
  });

  it('... for JSON that is not a JWK', async () => {
    const file = join(dir, 'k.json');
    writeFileSync(file, '[1,2]');
    await rejectsNaming(loadSigningKey(file, 'ES256'), file, /not a JSON Web Key/);
  });

  it('... for a public key only', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const file = join(dir, 'k.json');
    writeFileSync(file, JSON.stringify(await exportJWK(publicKey)));
    await rejectsNaming(loadSigningKey(file, 'ES256'), file, /no private key/);
  });

  it('... for a key of another algorithm than caep.alg', async () => {
    const file = join(dir, 'k.json');
    await loadSigningKey(file, 'ES256');
    await rejectsNaming(loadSigningKey(file, 'RS256'), file, /ES256 key, but caep\.alg is RS256/);
    // without an alg member the key itself does not fit
    const { privateKey } = await generateKeyPair('ES384', { extractable: true });
    writeFileSync(file, JSON.stringify(await exportJWK(privateKey)));
    await rejectsNaming(loadSigningKey(file, 'ES256'), file, /not a usable ES256 private key/);
  });

  it('... for a path that cannot be read', async () => {
    await rejectsNaming(loadSigningKey(dir, 'ES256'), dir, /cannot read/);
  });

  it('... for a key that cannot be written', async function () {
    // /proc takes no new files, even for root (a read-only directory would not stop root)
    if (!existsSync('/proc/self')) this.skip();
    const file = `/proc/risk-stream-caep-test-${process.pid}.json`;
    await rejectsNaming(loadSigningKey(file, 'ES256'), file, /cannot write a new signing key/);
  });
});
