import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import { arnOf, jsonText, parseEnvironment, requiredString } from '../shared/environment/index.js';

/** The consumer-probe function's environment, as its stack sets it. */
export const environmentSchema = z.object({
  [ENV.shardMap]: jsonText,
  [ENV.targetVersionArn]: arnOf('lambda'),
  [ENV.topic]: requiredString,
  [ENV.clusterArn]: arnOf('kafka'),
});

/**
 * Reads and validates the consumer-probe function's environment, once per execution environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(environmentSchema, env);
  return {
    shardMap: e[ENV.shardMap],
    targetVersionArn: e[ENV.targetVersionArn],
    topic: e[ENV.topic],
    clusterArn: e[ENV.clusterArn],
  };
}
