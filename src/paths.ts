import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RiskStreamError } from './errors';

/**
 * The package's root folder (the one holding package.json), found by walking up from `from`, so
 * the same code finds `schemas/`, `models/` and `src/state/lua/` whether it runs from src/ (tsx)
 * or dist/src/ (compiled): the package root is above both.
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) {
      throw new RiskStreamError('CONFIG_INVALID', `risk-stream: no package.json above ${from}`);
    }
  }
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
}
