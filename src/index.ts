/**
 * The package's public surface for code that embeds risk-stream (the CLI is `bin/risk-stream.js`).
 * `risk-stream/enforcer` is the enforcement-point library on its own.
 */
export type { Decision, DecisionType, PrincipalType, Reason, SessionAction } from './contract';
export { decodeDecision, encodeAction, encodeDecision } from './emit/encode';
export { decisionId } from './pipeline/process';
export { loadPolicyFile, parsePolicy, PolicyError, type CompiledPolicy } from './policy/compile';
export { startEngine, type RunningEngine } from './cli/run';
export { loadSettings } from './config/load';
export { CaepTransmitter, startCaepReceiver } from './caep';
export * as enforcer from './enforcer';
