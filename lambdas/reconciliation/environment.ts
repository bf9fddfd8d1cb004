import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import {
  arnOf,
  jsonText,
  parseEnvironment,
  redisEnvironment,
  redisSettingsOf,
  requiredString,
} from '../shared/environment/index.js';

/** The reconciliation function's environment, as its stack sets it. */
export const environmentSchema = z.object({
  [ENV.shardMap]: jsonText,
  [ENV.clusterArn]: arnOf('kafka'),
  [ENV.topic]: requiredString,
  [ENV.retryTopic]: requiredString,
  ...redisEnvironment,
});

/**
 * Reads and validates the reconciliation function's environment, once per execution environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(environmentSchema, env);
  return {
    shardMap: e[ENV.shardMap],
    topic: e[ENV.topic],
    retryTopic: e[ENV.retryTopic],
    redis: redisSettingsOf(e),
  };
}
