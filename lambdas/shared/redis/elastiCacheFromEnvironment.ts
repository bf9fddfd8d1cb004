import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { RedisConnectionOptions } from './createRedisClient.js';

/** How long a function keeps the AUTH token before reading it again (rotation takes effect within this). */
const AUTH_TOKEN_MAX_AGE_SECONDS = 300;

/** Where a function's ElastiCache is, from its validated environment (see `redisEnvironment`). */
export interface ElastiCacheSettings {
  readonly host: string;
  readonly port: number;
  readonly authSecretArn: string;
}

/**
 * The ElastiCache connection of a function: TLS to `host:port`, with the AUTH token (a plain string secret)
 * from Secrets Manager at `authSecretArn`.
 * @throws whatever Secrets Manager throws.
 */
export async function elastiCacheFrom(settings: ElastiCacheSettings): Promise<RedisConnectionOptions> {
  const password = await getSecret(settings.authSecretArn, { maxAge: AUTH_TOKEN_MAX_AGE_SECONDS });
  return {
    url: `rediss://${settings.host}:${settings.port}`,
    password: typeof password === 'string' ? password : undefined,
  };
}
