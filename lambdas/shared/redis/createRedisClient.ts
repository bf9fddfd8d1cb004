import { createClient, type RedisClientType } from '@redis/client';

export type RedisClient = RedisClientType;

export interface RedisConnectionOptions {
  /** `redis://` locally, `rediss://` (TLS) for ElastiCache. */
  readonly url: string;
  readonly password?: string | undefined;
  readonly connectTimeoutMillis?: number;
  /** Longest pause between reconnect attempts. */
  readonly maxReconnectDelayMillis?: number;
}

export const REDIS_DEFAULTS = {
  connectTimeoutMillis: 1_000,
  maxReconnectDelayMillis: 2_000,
} as const;

/**
 * A Redis client that fails fast while Redis is away: no offline queue (commands fail at once instead of
 * waiting for a reconnect) and reconnects with capped, jittered backoff that never give up, so the client
 * heals by itself when Redis returns. Deadlines are set per unit of work with `withDeadline`, not per
 * command: one timer per batch instead of one per command.
 */
export function createRedisClient(
  options: RedisConnectionOptions,
  onError: (error: unknown) => void,
): RedisClient {
  const maxDelay = options.maxReconnectDelayMillis ?? REDIS_DEFAULTS.maxReconnectDelayMillis;
  const client: RedisClient = createClient({
    url: options.url,
    ...(options.password === undefined ? {} : { password: options.password }),
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMillis ?? REDIS_DEFAULTS.connectTimeoutMillis,
      reconnectStrategy: (retries: number) =>
        Math.round(Math.random() * Math.min(maxDelay, 50 * 2 ** retries)),
    },
  });
  // Without a listener, a connection error would crash the process; here it is only reported.
  client.on('error', onError);
  return client;
}

/**
 * Connects, but does not fail the caller when Redis is down at start-up: the client keeps reconnecting
 * in the background and commands fail fast until it is back.
 */
export async function connectLeniently(
  client: RedisClient,
  onError: (error: unknown) => void,
): Promise<void> {
  try {
    await client.connect();
  } catch (error: unknown) {
    onError(error);
  }
}

/**
 * The same connection, with every command issued through it aborted once `signal` fires: a hanging Redis
 * then costs the deadline of the batch, never the invocation.
 */
export function withDeadline(client: RedisClient, signal: AbortSignal): RedisClient {
  return client.withAbortSignal(signal);
}
