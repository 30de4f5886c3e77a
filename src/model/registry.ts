/**
 * Model registry on disk: `<modelsDir>/<name>/<version>/` holds model.json, weights.bin and
 * manifest.json; `<modelsDir>/<name>/ACTIVE` holds the version to serve (one line), `SHADOW` the
 * version to score alongside it (optional).
 */
import fs from 'node:fs';
import path from 'node:path';
import { RiskStreamError } from '../errors';
import { MANIFEST_JSON } from './manifest';
import { packageRoot } from '../paths';

export const ACTIVE_FILE = 'ACTIVE';
/** Names the shadow version (scored alongside the active one, never enforced); absent or empty: none. */
export const SHADOW_FILE = 'SHADOW';

// Names and versions become path segments; this keeps them from escaping modelsDir.
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function checkSegment(kind: 'model name' | 'model version', value: string): void {
  if (!SEGMENT.test(value) || value.includes('..')) {
    throw new RiskStreamError(
      'CONFIG_INVALID',
      `${kind} ${JSON.stringify(value)} must match ${SEGMENT.source} (letters, digits, . _ -)`,
    );
  }
}

/** The package's `models/` folder (see `packageRoot`). */
export function defaultModelsDir(from: string = __dirname): string {
  return path.join(packageRoot(from), 'models');
}

export function modelDir(modelsDir: string, name: string, version: string): string {
  checkSegment('model name', name);
  checkSegment('model version', version);
  return path.join(modelsDir, name, version);
}

/**
 * Versions of a model, lowest first. A version counts once its manifest.json exists: training
 * writes it last, so a half-written folder is never listed.
 */
export function listVersions(modelsDir: string, name: string): string[] {
  checkSegment('model name', name);
  const root = path.join(modelsDir, name);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter(
      (e) => e.isDirectory() && SEGMENT.test(e.name) && fs.existsSync(path.join(root, e.name, MANIFEST_JSON)),
    )
    .map((e) => e.name)
    .sort(compareVersions);
}

/**
 * The version to serve: the one named in ACTIVE, else the highest listed. A pinned version that
 * is not on disk is an error rather than a silent switch to another model.
 */
export function activeVersion(modelsDir: string, name: string): string {
  checkSegment('model name', name);
  const pointer = path.join(modelsDir, name, ACTIVE_FILE);
  let pinned: string | undefined;
  try {
    pinned = fs.readFileSync(pointer, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new RiskStreamError('MODEL_NOT_FOUND', `cannot read ${pointer}`, { cause: err });
    }
  }
  const versions = listVersions(modelsDir, name);
  if (pinned !== undefined && pinned !== '') {
    if (!versions.includes(pinned)) {
      throw new RiskStreamError(
        'MODEL_NOT_FOUND',
        `${pointer} names version ${JSON.stringify(pinned)}, which is not in ${path.join(modelsDir, name)} ` +
          `(have: ${versions.join(', ') || 'none'})`,
      );
    }
    return pinned;
  }
  const highest = versions[versions.length - 1];
  if (highest === undefined) {
    throw new RiskStreamError('MODEL_NOT_FOUND', `no versions of model ${name} in ${modelsDir}`);
  }
  return highest;
}

/** Points ACTIVE at `version`, atomically (temp file + rename), so a reader never sees half a line. */
export function setActive(modelsDir: string, name: string, version: string): void {
  writePointer(modelsDir, name, ACTIVE_FILE, version, 'activate');
}

/** The shadow version named in SHADOW, or null; like ACTIVE, a version not on disk is an error. */
export function shadowVersion(modelsDir: string, name: string): string | null {
  checkSegment('model name', name);
  const pointer = path.join(modelsDir, name, SHADOW_FILE);
  let named: string;
  try {
    named = fs.readFileSync(pointer, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RiskStreamError('MODEL_NOT_FOUND', `cannot read ${pointer}`, { cause: err });
  }
  if (named === '') return null;
  const versions = listVersions(modelsDir, name);
  if (!versions.includes(named)) {
    throw new RiskStreamError(
      'MODEL_NOT_FOUND',
      `${pointer} names version ${JSON.stringify(named)}, which is not in ${path.join(modelsDir, name)}`,
    );
  }
  return named;
}

/** Points SHADOW at `version`, or empties it (null): no shadow model. */
export function setShadow(modelsDir: string, name: string, version: string | null): void {
  writePointer(modelsDir, name, SHADOW_FILE, version, 'shadow');
}

function writePointer(
  modelsDir: string,
  name: string,
  file: string,
  version: string | null,
  what: string,
): void {
  if (version !== null) {
    checkSegment('model version', version);
    const versions = listVersions(modelsDir, name);
    if (!versions.includes(version)) {
      throw new RiskStreamError(
        'MODEL_NOT_FOUND',
        `cannot ${what} ${name} ${version}: not in ${path.join(modelsDir, name)} (have: ${versions.join(', ') || 'none'})`,
      );
    }
  }
  const pointer = path.join(modelsDir, name, file);
  const tmp = `${pointer}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, version === null ? '' : `${version}\n`);
  fs.renameSync(tmp, pointer);
}

/**
 * Semver-ish order: a leading "v" is ignored, dot/dash separated parts compare numerically when
 * both are numbers, else as text; a release sorts after its pre-releases (1.0.0-rc1 < 1.0.0).
 */
export function compareVersions(a: string, b: string): number {
  const [aMain = '', aPre] = splitPre(a);
  const [bMain = '', bPre] = splitPre(b);
  const main = compareParts(aMain.split('.'), bMain.split('.'));
  if (main !== 0) return main;
  if (aPre === undefined || bPre === undefined) return aPre === bPre ? 0 : aPre === undefined ? 1 : -1;
  return compareParts(aPre.split(/[.-]/), bPre.split(/[.-]/));
}

function splitPre(v: string): [string, string | undefined] {
  const s = v.replace(/^v/i, '');
  const dash = s.indexOf('-');
  return dash < 0 ? [s, undefined] : [s.slice(0, dash), s.slice(dash + 1)];
}

function compareParts(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const c = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}
