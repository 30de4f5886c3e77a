import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChainableCommander, Redis } from 'ioredis';
import { packageRoot } from '../paths';

/**
 * Loads every `lua/<name>-<numberOfKeys>.lua` and registers it on an ioredis client with
 * `defineCommand`, which sends EVALSHA and falls back to EVAL on NOSCRIPT (also inside a pipeline:
 * a command that got NOSCRIPT is resent on its own once, which is safe because it did not run).
 */

export interface LuaScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

/**
 * The .lua files stay in src/state/lua (the TypeScript build does not copy them), so the folder is
 * found from the package root both when running from src/ (tsx) and from dist/src/ (package.json
 * `files` ships src/state/lua).
 */
export function luaDir(from: string = __dirname): string {
  return join(packageRoot(from), 'src', 'state', 'lua');
}

const SCRIPT_FILE = /^([A-Za-z][A-Za-z0-9]*)-(\d+)\.lua$/;

export function loadScripts(dir: string = luaDir()): LuaScript[] {
  return readdirSync(dir)
    .sort()
    .flatMap((file) => {
      const match = SCRIPT_FILE.exec(file);
      if (!match) return [];
      return [
        { name: match[1]!, numberOfKeys: Number(match[2]), lua: readFileSync(join(dir, file), 'utf8') },
      ];
    });
}

let cached: LuaScript[] | undefined;

/** Defines every script as a command on the client (once per client). */
export function registerScripts(client: Redis): void {
  cached ??= loadScripts();
  for (const script of cached) {
    if (typeof (client as unknown as Record<string, unknown>)[script.name] === 'function') continue;
    client.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
}

/** The commands registerScripts adds, as seen on a pipeline. */
export interface ScriptCommands {
  applyActions(
    win: string,
    ev: string,
    evq: string,
    arr: string,
    ...args: (string | number)[]
  ): ChainableCommander;
}
