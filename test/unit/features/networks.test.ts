import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNetworkClasses, networkClass, resetNetworkClasses } from '../../../src/features/networks';

describe('features/networks', () => {
  afterEach(resetNetworkClasses);
  const file = (text: string) => {
    const path = join(mkdtempSync(join(tmpdir(), 'rs-net-')), 'classes.csv');
    writeFileSync(path, text);
    return path;
  };

  it('classes well-known networks and takes any other ASN for an ISP', () => {
    assert.equal(networkClass(16509), 'hosting');
    assert.equal(networkClass(9009), 'anonymizer');
    assert.equal(networkClass(22616), 'sase');
    assert.equal(networkClass(21928), 'mobile');
    assert.equal(networkClass(7922), 'isp');
    assert.equal(networkClass(null), null);
  });

  it('merges a CSV over the built-in table', () => {
    assert.equal(loadNetworkClasses(file('asn,class\n# ours\nAS64512,sase\n\n7922 , hosting\n')), 2);
    assert.equal(networkClass(64512), 'sase');
    assert.equal(networkClass(7922), 'hosting');
    assert.equal(networkClass(16509), 'hosting');
  });

  it('names the file and line of a bad row, and keeps the table it had', () => {
    assert.throws(
      () => loadNetworkClasses(file('1,isp\n2,satellite\n')),
      /classes\.csv:2: class "satellite" is not one of isp, mobile/,
    );
    assert.throws(() => loadNetworkClasses(file('x,isp\n')), /classes\.csv:1: "x" is not an ASN/);
    assert.throws(
      () => loadNetworkClasses('/nonexistent/classes.csv'),
      /features\.networkClassFile \/nonexistent/,
    );
    assert.equal(networkClass(1), 'isp');
  });
});
