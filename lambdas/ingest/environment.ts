import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import {
  arnOf,
  httpsUrl,
  parseEnvironment,
  producerEnvironment,
  producerSettingsOf,
  redisEnvironment,
  redisSettingsOf,
  requiredString,
  wholeNumber,
} from '../shared/environment/index.js';

/** The ingest function's environment, as the Ingest stack sets it. */
export const ingestEnvironmentSchema = z.object({
  [ENV.topic]: requiredString,
  [ENV.clusterArn]: arnOf('kafka'),
  [ENV.spilloverQueueUrl]: httpsUrl,
  /** The spillover's bound: `Number` of a bad value is NaN, which would disable the bound silently. */
  [ENV.spilloverMaxDepth]: wholeNumber(1),
  ...redisEnvironment,
  ...producerEnvironment,
});

/**
 * Reads and validates the ingest function's environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readIngestEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(ingestEnvironmentSchema, env);
  return {
    topic: e[ENV.topic],
    clusterArn: e[ENV.clusterArn],
    spilloverQueueUrl: e[ENV.spilloverQueueUrl],
    spilloverMaxDepth: e[ENV.spilloverMaxDepth],
    redis: redisSettingsOf(e),
    producer: producerSettingsOf(e),
  };
}
