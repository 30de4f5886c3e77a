import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUILTIN_POLICY_FILE, PolicyError, loadPolicyFile, parsePolicy } from '../../../src/policy/compile';

const builtinText = fs.readFileSync(BUILTIN_POLICY_FILE, 'utf8');

function issuesOf(text: string, source = 'p.yaml'): string[] {
  try {
    parsePolicy(text, source);
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    assert.equal(err.code, 'POLICY_INVALID');
    return err.issues.map((i) => `${i.line}:${i.column} ${i.setting}: ${i.message}`);
  }
  assert.fail('the policy was accepted');
}

describe('policy/compile', () => {
  it('the built-in policy is valid', () => {
    const p = parsePolicy(builtinText, 'built-in');
    assert.equal(p.name, 'default');
    assert.equal(p.friction.stepUpCooldownMs, 10 * 60_000);
    assert.equal(p.catalog.get('*')?.get('export')?.tiers[0]?.reason, 'MASS_EXPORT');
  });

  it('names the line, column and setting of every problem', () => {
    const text = builtinText
      .replace(
        '    config_change: high\n    permission_change: high',
        '    config_change: supercritical\n    permission_change: high',
      )
      .replace(/(high: +\{ none: ALLOW, +low: STEP_UP, +medium: )BLOCK_ACTION,/, '$1BLOCK,')
      .replace('when: { principal: [CONTRACTOR]', 'when: { principal: [VENDOR]')
      .replace('  stepUpCooldown: 10m', '  stepUpCooldown: ten minutes\n  colour: red');
    const lines = text.split('\n');
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => i.split(' ')[0]!.split(':')[0]),
      [
        lineOf('supercritical'),
        lineOf('medium: BLOCK,'),
        lineOf('VENDOR'),
        lineOf('ten minutes'),
        lineOf('colour'),
      ].map(String),
    );
    assert.match(
      issues[0]!,
      /catalog\.aws-console\.config_change.*expected one of none, low, medium, high, critical/,
    );
    assert.match(
      issues[1]!,
      /responses\.high\.medium: expected one of ALLOW, STEP_UP, BLOCK_ACTION, TERMINATE/,
    );
    assert.match(issues[2]!, /rules\.0\.when\.principal\.0: expected one of EMPLOYEE/);
    assert.match(issues[3]!, /friction\.stepUpCooldown: expected a duration/);
    assert.match(issues[4]!, /friction\.colour: unknown setting "colour"/);
  });

  it('reports a missing section at its parent, and rising risk floors', () => {
    const issues = issuesOf(
      'name: x\nversion: 1\nriskLevels: { low: 0.6, medium: 0.5, high: 0.7, critical: 0.9 }\n',
    );
    assert.ok(
      issues.some((i) => /^3:\d+ riskLevels: risk level floors must rise/.test(i)),
      issues.join('\n'),
    );
    assert.ok(
      issues.some((i) => /responses: required, missing/.test(i)),
      issues.join('\n'),
    );
  });

  it('YAML syntax errors and JSON files get lines too', () => {
    assert.match(issuesOf('name: x\nversion: 1\n  bad: [\n')[0]!, /^2:\d+ /);
    const json = JSON.stringify({ name: 'x', version: 1, riskLevels: 'high' }, null, 2);
    assert.ok(issuesOf(json, 'p.json').some((i) => /^4:\d+ riskLevels: /.test(i)));
  });

  it('rejects duplicate rule names and chained replacements', () => {
    const text = builtinText
      .replace(
        'rules:\n',
        'rules:\n  - name: contractor-mass-export\n    when: { principal: [ADMIN] }\n    atLeast: { low: STEP_UP }\n',
      )
      .replace(
        'replace: { STEP_UP: BLOCK_ACTION }',
        'replace: { STEP_UP: BLOCK_ACTION, BLOCK_ACTION: TERMINATE }',
      );
    const issues = issuesOf(text);
    assert.ok(
      issues.some((i) =>
        /rules\.1\.name: rule name "contractor-mass-export" is already used by rules\.0/.test(i),
      ),
    );
    assert.ok(issues.some((i) => /principals\.SERVICE\.replace\.STEP_UP: .*do not chain/.test(i)));
  });

  it('a file that cannot be read names the file', () => {
    assert.throws(() => loadPolicyFile('/nonexistent/policy.yaml'), {
      code: 'POLICY_INVALID',
      message: /cannot read policy file \/nonexistent\/policy\.yaml/,
    });
  });

  it('the content hash changes with the text', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-policy-'));
    const file = path.join(dir, 'p.yaml');
    fs.writeFileSync(file, builtinText);
    const a = loadPolicyFile(file);
    fs.writeFileSync(file, builtinText.replace('stepUpCooldown: 10m', 'stepUpCooldown: 15m'));
    const b = loadPolicyFile(file);
    assert.notEqual(a.hash, b.hash);
    assert.equal(b.friction.stepUpCooldownMs, 15 * 60_000);
  });
});
