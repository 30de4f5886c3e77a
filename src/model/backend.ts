/**
 * Picks the TF.js backend once per process: the native tfjs-node binding when it loads, else the
 * WASM backend (needs no native build), else the pure-JS cpu backend.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendAttempt {
  name: BackendName;
  error: string;
}

export interface BackendInfo {
  name: BackendName;
  /** Backends tried before `name` and why each failed, in order. */
  tried: BackendAttempt[];
}

/** The subset of a pino logger this module uses (a pino Logger satisfies it). */
export interface ModelLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SelectOptions {
  /** Folder holding the tfjs-backend-wasm `.wasm` files; default: the installed package's dist/. */
  wasmDir?: string;
}

const ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

// A name in a variable keeps TypeScript from resolving the optional package's types, so the build
// works where it is not installed.
const TFJS_NODE = '@tensorflow/tfjs-node';
const TFJS_WASM = '@tensorflow/tfjs-backend-wasm';
const dynamicRequire: (id: string) => unknown = require;

let pending: Promise<BackendInfo> | undefined;
let selected: BackendInfo | undefined;

/**
 * Selects the backend for the whole process. Idempotent: later calls return the first result,
 * whatever they ask for. An explicit preference is where the fallback chain starts
 * (tensorflow -> wasm -> cpu), so a missing native binding degrades instead of failing start-up.
 */
export function initBackend(preferred: BackendPreference = 'auto', log?: ModelLogger): Promise<BackendInfo> {
  if (pending === undefined) {
    const start = preferred === 'auto' ? 0 : ORDER.indexOf(preferred);
    pending = selectBackend(ORDER.slice(start)).then((info) => {
      selected = info;
      if (info.tried.length > 0)
        log?.warn({ backend: info.name, tried: info.tried }, 'tfjs backend fallback');
      log?.info({ backend: info.name }, 'tfjs backend ready');
      return info;
    });
    // A failed selection (nothing usable at all) may be retried.
    pending.catch(() => (pending = undefined));
  } else if (selected !== undefined && preferred !== 'auto' && preferred !== selected.name) {
    log?.warn({ backend: selected.name, preferred }, 'tfjs backend already selected; preference ignored');
  }
  return pending;
}

/** The backend chosen by `initBackend`, or undefined before it has finished. */
export function currentBackend(): BackendInfo | undefined {
  return selected;
}

/**
 * Tries the backends in order and returns the first that runs a small matMul correctly.
 * Not idempotent: `initBackend` is the entry point; this is exported for tests.
 */
export async function selectBackend(
  order: readonly BackendName[],
  options: SelectOptions = {},
): Promise<BackendInfo> {
  const tried: BackendAttempt[] = [];
  for (const name of order) {
    try {
      await activate(name, options);
      await smokeTest();
      return { name, tried };
    } catch (err) {
      tried.push({ name, error: errorText(err) });
    }
  }
  throw new Error(`no usable tfjs backend: ${tried.map((t) => `${t.name}: ${t.error}`).join('; ')}`);
}

async function activate(name: BackendName, options: SelectOptions): Promise<void> {
  switch (name) {
    case 'tensorflow':
      // Loading registers the 'tensorflow' backend. A half-installed package throws here
      // (missing .node binding, wrong ABI, or a second copy of tfjs-core); any error falls through.
      dynamicRequire(TFJS_NODE);
      break;
    case 'wasm':
      setUpWasm(options.wasmDir ?? defaultWasmDir());
      break;
    case 'cpu':
      break;
    default:
      name satisfies never;
  }
  // setBackend resolves false (it does not throw) when the backend fails to initialise.
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
  if (name === 'cpu') silenceCpuBanner();
}

let wasmPathsSet = false;

function setUpWasm(dir: string): void {
  // In Node, Emscripten reads the binary with fs, so the prefix is a plain directory path (an
  // http URL fails). Threads are off in Node, so the single-threaded SIMD binary is the one
  // loaded; checking the files first avoids Emscripten's abort noise on stderr.
  const missing = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'].filter(
    (f) => !fs.existsSync(path.join(dir, f)),
  );
  if (missing.length > 0) throw new Error(`wasm binaries not found in ${dir}: ${missing.join(', ')}`);
  const wasm = dynamicRequire(TFJS_WASM) as { setWasmPaths(prefix: string): void };
  // setWasmPaths throws once an init has been attempted, so set it only the first time.
  if (!wasmPathsSet) {
    wasm.setWasmPaths(dir + path.sep);
    wasmPathsSet = true;
  }
}

function defaultWasmDir(): string {
  // The package's main file is dist/tf-backend-wasm.node.js, beside the .wasm files.
  return path.dirname(require.resolve(TFJS_WASM));
}

/**
 * The cpu backend prints a "Hi, looks like you are running TensorFlow.js in Node.js" banner on
 * its first tensor write. Make that write with PROD set, which is the only switch tfjs's `warn`
 * honours, then restore PROD so later tfjs warnings still show.
 */
function silenceCpuBanner(): void {
  const env = tf.env();
  const prod = env.getBool('PROD');
  env.set('PROD', true);
  try {
    tf.dispose(tf.scalar(0));
  } finally {
    env.set('PROD', prod);
  }
}

async function smokeTest(): Promise<void> {
  const out = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])));
  try {
    const got = Array.from(await out.data());
    if (got.join(',') !== '19,22,43,50') throw new Error(`smoke matMul gave [${got.join(', ')}]`);
  } finally {
    out.dispose();
  }
}

function errorText(err: unknown): string {
  const text =
    err instanceof Error
      ? err.message
      : typeof err === 'object' && err !== null && 'message' in err
        ? String(err.message)
        : String(err);
  // Native-module errors carry the whole require stack; the first line says what failed.
  return text.split('\n')[0] ?? text;
}
