import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { IPolicy } from 'cockatiel';
import type { RedisClient } from '../redis/createRedisClient.js';
import type { ResilienceSettings } from '../resilience/defaults.js';
import { redisPolicy } from '../resilience/named.js';
import type { Counters } from './counters.js';
import { idempotentSubmit, type Submit } from './idempotentSubmit.js';
import type { ShardBatcher } from './ShardBatcher.js';
import { isIdempotencyStoreFailure } from './storeErrors.js';

export interface IdempotencyGuardSettings {
  readonly resilience: ResilienceSettings;
  /** How long a completed event id is remembered by the idempotency store. */
  readonly ttlSeconds: number;
  /** Whether Redis is configured at all (a missing store is then counted as bypassed). */
  readonly redisConfigured: boolean;
}

/** What one invocation passes through the guard. */
export interface GuardedInvocation {
  readonly batcher: ShardBatcher;
  readonly counters: Counters;
  readonly logger: Logger;
  /** The invocation's view of Redis; undefined while it is not connected. */
  readonly redis: RedisClient | undefined;
  readonly context: Context | undefined;
  readonly deadline: AbortSignal;
}

/**
 * The Powertools idempotency guard of a consumer: its configuration and the breaker that guards the
 * store, both kept across invocations, and for each invocation the submit function through them (see
 * `idempotentSubmit`).
 */
export class IdempotencyGuard {
  private readonly config: IdempotencyConfig;
  /** Guards the idempotency store; only store failures count against it. */
  private readonly breaker: IPolicy;

  public constructor(private readonly settings: IdempotencyGuardSettings) {
    // The idempotent function takes the event id itself as its payload: the key is the same as through
    // a JMESPath `eventId` over `{ eventId }`, without a JMESPath interpreter built per call.
    this.config = new IdempotencyConfig({
      expiresAfterSeconds: settings.ttlSeconds,
      throwOnNoIdempotencyKey: true,
    });
    this.breaker = redisPolicy(settings.resilience, isIdempotencyStoreFailure);
  }

  /** The submit function of one invocation, each event through the guard. */
  public submitter(invocation: GuardedInvocation): Submit {
    const { redis, context } = invocation;
    if (redis !== undefined && context) this.config.registerLambdaContext(context);
    return idempotentSubmit({
      batcher: invocation.batcher,
      counters: invocation.counters,
      logger: invocation.logger,
      breaker: this.breaker,
      config: this.config,
      redis,
      redisConfigured: this.settings.redisConfigured,
      deadline: invocation.deadline,
    });
  }
}
