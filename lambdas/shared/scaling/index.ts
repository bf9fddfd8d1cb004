export {
  classifyLag,
  decideScaling,
  type LagSignal,
  type LagThresholds,
  type ScalingAction,
  type ScalingDecision,
  type ScalingPolicy,
  type ScalingState,
} from './decideScaling.js';
export { type PollerScalerDependencies, scalePollers } from './scalePollers.js';
