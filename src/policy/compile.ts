import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { DecisionType, PrincipalType } from '../contract';
import { RiskStreamError } from '../errors';
import { packageRoot } from '../paths';
import {
  OUTAGE_STATE_LOST,
  OUTAGE_WITHOUT_STATE,
  RISK_LEVELS,
  policySchema,
  type PolicyDocument,
  type RiskLevel,
  type Sensitivity,
} from './schema';

/** One record-count tier of an action: at `atLeast` records or more, this sensitivity. */
export interface RecordTier {
  atLeast: number;
  sensitivity: Sensitivity;
  reason: string | null;
}

export interface CatalogEntry {
  sensitivity: Sensitivity;
  /** Highest threshold first. */
  tiers: RecordTier[];
}

export interface CompiledRule {
  name: string;
  principal: ReadonlySet<string> | null;
  app: ReadonlySet<string> | null;
  action: ReadonlySet<string> | null;
  sensitivity: ReadonlySet<string> | null;
  respond: Partial<Record<RiskLevel, DecisionType>>;
  atLeast: Partial<Record<RiskLevel, DecisionType>>;
}

export interface FrictionSettings {
  trustAfterStepUpMs: number;
  stepUpCooldownMs: number;
  escalateTo: DecisionType;
  terminateAfter: number;
  terminatedStaysTerminated: boolean;
}

/** A validated policy in the form the decision code reads. Immutable once built. */
export interface CompiledPolicy {
  name: string;
  version: string;
  /** First 12 hex digits of the sha256 of the file's text. */
  hash: string;
  /** `<name>@<version>#<hash>`: what decisions carry as policy_version. */
  id: string;
  /** The file it came from, or `built-in`. */
  source: string;
  text: string;
  /** Score floors, highest first. */
  levels: readonly { level: RiskLevel; min: number }[];
  /** app -> action -> entry; app `*` covers every app. */
  catalog: ReadonlyMap<string, ReadonlyMap<string, CatalogEntry>>;
  responses: Readonly<Record<Sensitivity, Readonly<Record<RiskLevel, DecisionType>>>>;
  rules: readonly CompiledRule[];
  replace: Partial<Record<PrincipalType, Partial<Record<DecisionType, DecisionType>>>>;
  friction: FrictionSettings;
  /**
   * Redis outages: `withoutState` answers an action decided while Redis does not answer
   * (redis.outage=decide); `stateLost` is the least a session gets, per sensitivity, once its
   * state was found lost (Redis came back empty), until a step-up passes.
   */
  outage: {
    withoutState: Readonly<Record<Sensitivity, DecisionType>>;
    stateLost: Readonly<Record<Sensitivity, DecisionType>>;
  };
}

/** One problem in a policy file, located. */
export interface PolicyIssue {
  line: number;
  column: number;
  /** Dotted path of the setting, e.g. `catalog.aws-console.config_change`. */
  setting: string;
  message: string;
}

export class PolicyError extends RiskStreamError {
  constructor(
    readonly source: string,
    readonly issues: readonly PolicyIssue[],
  ) {
    super(
      'POLICY_INVALID',
      `invalid policy ${source}:\n${issues
        .map((i) => `  ${source}:${i.line}:${i.column}: ${i.setting ? `${i.setting}: ` : ''}${i.message}`)
        .join('\n')}`,
    );
    this.name = 'PolicyError';
  }
}

type Path = readonly (string | number)[];

/** The source position of the node at `p`, or of its nearest ancestor that exists. */
function locate(
  doc: Document,
  counter: LineCounter,
  p: Path,
  key?: string,
): { line: number; column: number } {
  for (let n = p.length; n >= 0; n--) {
    const node = doc.getIn(p.slice(0, n), true) as Node | undefined;
    if (!node?.range) continue;
    let offset = node.range[0];
    if (n === p.length && key !== undefined && isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === key);
      const keyNode = pair?.key as Node | undefined;
      if (keyNode?.range) offset = keyNode.range[0];
    }
    const pos = counter.linePos(offset);
    return { line: pos.line, column: pos.col };
  }
  return { line: 1, column: 1 };
}

function zodIssues(doc: Document, counter: LineCounter, error: z.ZodError): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  for (const issue of error.issues) {
    const p = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({
          ...locate(doc, counter, p, key),
          setting: [...p, key].join('.'),
          message: `unknown setting "${key}"`,
        });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && doc.getIn(p) === undefined) message = 'required, missing';
    out.push({ ...locate(doc, counter, p), setting: p.join('.'), message });
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Checks zod cannot express: names that must be unique, replacements that must not chain. */
function semanticIssues(doc: Document, counter: LineCounter, d: PolicyDocument): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const seen = new Map<string, number>();
  d.rules.forEach((r, i) => {
    if (seen.has(r.name)) {
      out.push({
        ...locate(doc, counter, ['rules', i, 'name']),
        setting: `rules.${i}.name`,
        message: `rule name "${r.name}" is already used by rules.${seen.get(r.name)}`,
      });
    } else seen.set(r.name, i);
  });
  for (const [type, entry] of Object.entries(d.principals)) {
    for (const [from, to] of Object.entries(entry?.replace ?? {})) {
      if (to && entry?.replace[to] !== undefined) {
        out.push({
          ...locate(doc, counter, ['principals', type, 'replace', from]),
          setting: `principals.${type}.replace.${from}`,
          message: `${from} is replaced by ${to}, which is itself replaced: replacements do not chain`,
        });
      }
    }
  }
  return out;
}

function compileDocument(d: PolicyDocument, text: string, source: string): CompiledPolicy {
  const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 12);
  const catalog = new Map<string, Map<string, CatalogEntry>>();
  for (const [app, actions] of Object.entries(d.catalog)) {
    const m = new Map<string, CatalogEntry>();
    for (const [action, entry] of Object.entries(actions)) {
      const tiers = Object.entries(entry.records ?? {})
        .map(([min, t]) => ({
          atLeast: Number(min),
          sensitivity: t.sensitivity,
          reason: t.reason ?? null,
        }))
        .sort((a, b) => b.atLeast - a.atLeast);
      m.set(action, { sensitivity: entry.sensitivity, tiers });
    }
    catalog.set(app, m);
  }
  const set = <T extends string>(xs: readonly T[] | undefined) => (xs ? new Set<string>(xs) : null);
  return {
    name: d.name,
    version: d.version,
    hash,
    id: `${d.name}@${d.version}#${hash}`,
    source,
    text,
    levels: (['critical', 'high', 'medium', 'low'] as const).map((level) => ({
      level,
      min: d.riskLevels[level],
    })),
    catalog,
    responses: d.responses,
    rules: d.rules.map((r) => ({
      name: r.name,
      principal: set(r.when.principal),
      app: set(r.when.app),
      action: set(r.when.action),
      sensitivity: set(r.when.sensitivity),
      respond: r.respond ?? {},
      atLeast: r.atLeast ?? {},
    })),
    replace: Object.fromEntries(Object.entries(d.principals).map(([k, v]) => [k, v?.replace ?? {}])),
    friction: {
      trustAfterStepUpMs: d.friction.trustAfterStepUp,
      stepUpCooldownMs: d.friction.stepUpCooldown,
      escalateTo: d.friction.failedStepUp.escalateTo,
      terminateAfter: d.friction.failedStepUp.terminateAfter,
      terminatedStaysTerminated: d.friction.terminatedStaysTerminated,
    },
    outage: {
      withoutState: { ...OUTAGE_WITHOUT_STATE, ...d.outage.withoutState },
      stateLost: { ...OUTAGE_STATE_LOST, ...d.outage.stateLost },
    },
  };
}

/**
 * Parses and validates a policy (YAML; JSON is read by the same parser, so its errors get lines
 * too). Throws PolicyError listing every problem with its line, column and setting.
 */
export function parsePolicy(text: string, source: string): CompiledPolicy {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      source,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
        const message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
        return { line: pos.line, column: pos.col, setting: '', message };
      }),
    );
  }
  const parsed = policySchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) throw new PolicyError(source, zodIssues(doc, counter, parsed.error));
  const semantic = semanticIssues(doc, counter, parsed.data);
  if (semantic.length > 0) throw new PolicyError(source, semantic);
  return compileDocument(parsed.data, text, source);
}

/** Reads and compiles a policy file. Errors name the file (and the line, for content errors). */
export function loadPolicyFile(file: string): CompiledPolicy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskStreamError(
      'POLICY_INVALID',
      `cannot read policy file ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return parsePolicy(text, file);
}

/**
 * The built-in policy's file. It stays in src/policy (the TypeScript build does not copy it), found
 * from the package root both from src/ (tsx) and dist/src/ (package.json `files` ships it).
 */
export const BUILTIN_POLICY_FILE = path.join(packageRoot(__dirname), 'src', 'policy', 'default.yaml');

let builtin: CompiledPolicy | undefined;

/** The built-in policy (src/policy/default.yaml), compiled once. */
export function builtinPolicy(): CompiledPolicy {
  if (!builtin) {
    builtin = parsePolicy(fs.readFileSync(BUILTIN_POLICY_FILE, 'utf8'), 'built-in');
  }
  return builtin;
}

/** The risk level of a score under a policy. */
export function riskLevel(policy: CompiledPolicy, score: number): RiskLevel {
  for (const { level, min } of policy.levels) if (score >= min) return level;
  return 'none';
}

export { RISK_LEVELS };
