export { ConfigError } from './errors.js';
export { availabilityZonesOf, type ConfigOverrides, loadEnvironmentConfig } from './loadEnvironmentConfig.js';
export {
  type DeploymentStrategy,
  ENVIRONMENT_NAMES,
  type EnvironmentConfig,
  type EnvironmentName,
  type RetentionConfig,
  resilienceEnabled,
  type TopicConfig,
} from './schema.js';
