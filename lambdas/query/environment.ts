import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import {
  jsonText,
  parseEnvironment,
  redisEnvironment,
  redisSettingsOf,
} from '../shared/environment/index.js';

/** The query function's environment, as the Query stack sets it. */
export const queryEnvironmentSchema = z.object({
  [ENV.shardMap]: jsonText,
  ...redisEnvironment,
});

/**
 * Reads and validates the query function's environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readQueryEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(queryEnvironmentSchema, env);
  return { shardMap: e[ENV.shardMap], redis: redisSettingsOf(e) };
}
