import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import { arnOf, parseEnvironment, requiredString } from '../shared/environment/index.js';

/** The api-probe function's environment, as its stack sets it. */
export const environmentSchema = z.object({
  [ENV.probedApi]: requiredString.pipe(z.enum(['ingest', 'query'], { error: 'must be ingest or query' })),
  [ENV.targetVersionArn]: arnOf('lambda'),
});

/**
 * Reads and validates the api-probe function's environment, once per execution environment.
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(environmentSchema, env);
  return { probedApi: e[ENV.probedApi], targetVersionArn: e[ENV.targetVersionArn] };
}
