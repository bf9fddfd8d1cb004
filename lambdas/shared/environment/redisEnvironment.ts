import { z } from 'zod';
import { ENV } from '../contracts/index.js';
import { arnOf, port, requiredString } from './parseEnvironment.js';

/** The ElastiCache endpoint and the Secrets Manager secret of its AUTH token. */
export const redisEnvironment = {
  [ENV.redisHost]: requiredString,
  [ENV.redisPort]: port,
  [ENV.redisAuthSecretArn]: arnOf('secretsmanager'),
} as const;

const redisSchema = z.object(redisEnvironment);

/** The connection settings of a validated environment, as `elastiCacheFrom` takes them. */
export const redisSettingsOf = (env: z.output<typeof redisSchema>) => ({
  host: env[ENV.redisHost],
  port: env[ENV.redisPort],
  authSecretArn: env[ENV.redisAuthSecretArn],
});
