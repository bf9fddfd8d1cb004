import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import {
  arnOf,
  httpsUrl,
  parseEnvironment,
  producerEnvironment,
  producerSettingsOf,
  requiredString,
} from '../shared/environment/index.js';

/** The spillover drainer's environment, as the Ingest stack sets it. */
export const drainerEnvironmentSchema = z.object({
  [ENV.topic]: requiredString,
  [ENV.clusterArn]: arnOf('kafka'),
  [ENV.spilloverQueueUrl]: httpsUrl,
  ...producerEnvironment,
});

/**
 * Reads and validates the drainer's environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readDrainerEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(drainerEnvironmentSchema, env);
  return {
    topic: e[ENV.topic],
    clusterArn: e[ENV.clusterArn],
    spilloverQueueUrl: e[ENV.spilloverQueueUrl],
    producer: producerSettingsOf(e),
  };
}
