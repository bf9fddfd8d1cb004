import { createClient, type RedisClientType } from '@redis/client';
import { PlatformError } from '../errors.js';

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
 * Connects, but does not fail or hold the caller when Redis is down at start-up: the client keeps
 * reconnecting in the background and commands fail fast until it is back. `connect()` itself settles only
 * once connected (its reconnect strategy never gives up), so the caller waits for it at most `waitMillis`.
 */
export async function connectLeniently(
  client: RedisClient,
  onError: (error: unknown) => void,
  waitMillis: number = REDIS_DEFAULTS.connectTimeoutMillis,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const connecting = client.connect().then(
    () => undefined,
    (error: unknown) => onError(error),
  );
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMillis);
    timer.unref();
  });
  await Promise.race([connecting, waited]);
  clearTimeout(timer);
}

/**
 * A client created and connected leniently, its connection errors logged at debug level (they are
 * expected while Redis is away, and the breakers around its use report what matters).
 */
export async function openRedis(
  options: RedisConnectionOptions,
  logger: { debug(message: string, extra: Record<string, unknown>): void },
): Promise<RedisClient> {
  const onError = (error: unknown) => logger.debug('redis connection error', { error });
  const client = createRedisClient(options, onError);
  await connectLeniently(client, onError);
  return client;
}

/**
 * The same connection, with every command not yet sent when `signal` fires abandoned. Commands already
 * written wait for their reply regardless (that is how the client works), so callers also bound their
 * wait with `untilDeadline`.
 */
export function withDeadline(client: RedisClient, signal: AbortSignal): RedisClient {
  return client.withAbortSignal(signal);
}

/** Redis did not answer before the invocation's deadline; the work goes on without it. */
export class RedisDeadlineError extends PlatformError {
  public override readonly name = 'RedisDeadlineError';
  public readonly retriable = true;
}

/** Per deadline signal: one promise that rejects when it fires, shared by every wait bounded by it. */
const expiries = new WeakMap<AbortSignal, Promise<never>>();

function expiryOf(signal: AbortSignal): Promise<never> {
  let expiry = expiries.get(signal);
  if (expiry === undefined) {
    expiry = new Promise<never>((_, reject) => {
      signal.addEventListener(
        'abort',
        () => reject(new RedisDeadlineError('Redis did not answer before the deadline')),
        { once: true },
      );
    });
    // Nobody may be waiting any more when it fires.
    expiry.catch(() => undefined);
    expiries.set(signal, expiry);
  }
  return expiry;
}

/**
 * Resolves or rejects like `work`, but rejects with `RedisDeadlineError` as soon as `signal` fires: a
 * Redis that accepts connections and never answers costs the deadline, never the invocation. Every wait
 * on one signal shares a single abort listener (an invocation bounds hundreds of calls by one deadline,
 * and each listener added to an `EventTarget` costs a walk of those already there).
 */
export function untilDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new RedisDeadlineError('Redis deadline already passed'));
  return Promise.race([work, expiryOf(signal)]);
}
