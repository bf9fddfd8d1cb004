import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import { createClient } from '@redis/client';
import { describe, expect, it } from 'vitest';
import { CONSUMER_IDEMPOTENCY_PREFIX } from '../../../lambdas/shared/consumer/idempotentSubmit.js';
import type { RedisClient } from '../../../lambdas/shared/redis/createRedisClient.js';

/** The key computation of the store the consumer uses, opened up for the test. */
class KeyedLayer extends CachePersistenceLayer {
  public keyOf(data: unknown): string {
    return this.getHashedIdempotencyKey(
      data as Parameters<CachePersistenceLayer['getHashedIdempotencyKey']>[0],
    );
  }
}

/** A persistence layer as the consumer configures it; the client is never connected (keys are computed locally). */
function layer(config: IdempotencyConfig): KeyedLayer {
  const persistence = new KeyedLayer({ client: createClient() as unknown as RedisClient });
  persistence.configure({ config, keyPrefix: CONSUMER_IDEMPOTENCY_PREFIX });
  return persistence;
}

describe('consumer idempotency key', () => {
  it('is the same for the bare event id as it was for a JMESPath `eventId` over { eventId }, so records written before stay valid', () => {
    // Prepare
    const eventId = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const before = layer(
      new IdempotencyConfig({ eventKeyJmesPath: 'eventId', throwOnNoIdempotencyKey: true }),
    );
    const now = layer(new IdempotencyConfig({ throwOnNoIdempotencyKey: true }));

    // Act
    const keyBefore = before.keyOf({ eventId });
    const keyNow = now.keyOf(eventId);

    // Assess
    expect(keyNow).toBe(keyBefore);
    expect(keyNow).toMatch(/^cdp-consumer#[A-Za-z0-9+/]{22}==$/);
    expect(now.keyOf('another-id')).not.toBe(keyNow);
  });

  it('refuses an empty event id instead of sharing one key between events', () => {
    const now = layer(new IdempotencyConfig({ throwOnNoIdempotencyKey: true }));
    expect(() => now.keyOf('')).toThrow();
  });
});
