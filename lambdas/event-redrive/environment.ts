import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import { arnOf, httpsUrl, parseEnvironment, requiredString } from '../shared/environment/index.js';

/** The event-redrive function's environment, as its stack sets it. */
export const environmentSchema = z.object({
  [ENV.failureQueueUrl]: httpsUrl,
  [ENV.clusterArn]: arnOf('kafka'),
  [ENV.topic]: requiredString,
  [ENV.retryTopic]: requiredString,
});

/**
 * Reads and validates the event-redrive function's environment, once per execution environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(environmentSchema, env);
  return { failureQueueUrl: e[ENV.failureQueueUrl], topic: e[ENV.topic], retryTopic: e[ENV.retryTopic] };
}
