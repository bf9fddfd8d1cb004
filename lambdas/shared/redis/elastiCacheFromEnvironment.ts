import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { requiredEnv } from '../requiredEnv.js';
import type { RedisConnectionOptions } from './createRedisClient.js';

/** How long a function keeps the AUTH token before reading it again (rotation takes effect within this). */
const AUTH_TOKEN_MAX_AGE_SECONDS = 300;

/**
 * The ElastiCache connection of a function: TLS to `REDIS_HOST`:`REDIS_PORT`, with the AUTH token (a
 * plain string secret) from Secrets Manager at `REDIS_AUTH_SECRET_ARN`.
 * @throws {RangeError} naming a missing variable; whatever Secrets Manager throws.
 */
export async function elastiCacheFromEnvironment(): Promise<RedisConnectionOptions> {
  const password = await getSecret(requiredEnv('REDIS_AUTH_SECRET_ARN'), {
    maxAge: AUTH_TOKEN_MAX_AGE_SECONDS,
  });
  return {
    url: `rediss://${requiredEnv('REDIS_HOST')}:${requiredEnv('REDIS_PORT')}`,
    password: typeof password === 'string' ? password : undefined,
  };
}
