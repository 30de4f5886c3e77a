/** Labelled traffic simulator: batch generation, a live source, JSON Lines writers. */
export { DEFAULT_START, simulate, type SimulateOptions, type Simulation } from './generate';
export { type LiveEvent, type LiveOptions, liveTraffic } from './live';
export { Rng, type Seed } from './rng';
export { DEFAULT_MIX, isAttackScenario, SCENARIOS } from './scenarios';
export {
  ATTACK_SCENARIOS,
  BENIGN_SCENARIOS,
  type Label,
  SCENARIO_NAMES,
  type ScenarioMix,
  type ScenarioName,
} from './types';
export { writeJsonl, writeJsonLines, writeLabels } from './write';
