import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import { arnOf, parseEnvironment, requiredString } from '../shared/environment/index.js';

/** The event-replay function's environment, as its stack sets it. */
export const environmentSchema = z.object({
  [ENV.clusterArn]: arnOf('kafka'),
  [ENV.topic]: requiredString,
  [ENV.retryTopic]: requiredString,
});

/**
 * Reads and validates the event-replay function's environment, once per execution environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(environmentSchema, env);
  return { topic: e[ENV.topic], retryTopic: e[ENV.retryTopic] };
}
