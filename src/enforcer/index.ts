/**
 * The enforcement-point library: what a Node service or proxy embeds to apply the engine's
 * decisions. `EnforcerClient` follows the decisions topic into a `SessionEnforcement`;
 * `enforcerHook` turns its answers into 401 / 403 responses in fastify; `EngineClient` asks the
 * engine inline (`POST /v1/evaluate`) when a request should not wait for the topic.
 */
export {
  ENFORCEMENT_DEFAULTS,
  STEP_UP_EXEMPT_ACTIONS,
  SessionEnforcement,
  type ApplyOutcome,
  type CheckResult,
  type Denial,
  type DenyingDecision,
  type EnforcementOptions,
  type EnforcementStats,
} from './state';
export {
  EnforcerClient,
  type EnforcerClientOptions,
  type EnforcerClientStats,
  type EnforcerLogger,
} from './client';
export {
  denialBody,
  enforcerHook,
  sendDenial,
  stepUpChallenge,
  type DenialBody,
  type DenialOptions,
  type Enforcer,
  type EnforcerHookOptions,
} from './fastify';
export { EngineClient, type EngineClientOptions, type EvaluateError, type EvaluateResult } from './engine';
export type { Decision, DecisionType, Reason, SessionAction } from '../contract';
