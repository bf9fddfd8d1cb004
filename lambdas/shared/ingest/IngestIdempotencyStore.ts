import { PERSISTENCE_ATTRIBUTE_KEY_MAPPINGS } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import type { RedisClient } from '../redis/createRedisClient.js';

/** An idempotency store operation that did not finish in time. */
export class StoreTimeoutError extends Error {
  public override readonly name = 'StoreTimeoutError';
}

/**
 * Powertools' Redis idempotency store with two corrections:
 * - every store operation is bounded: @redis/client's command timeout and abort signal only cancel
 *   commands not yet written to the socket, so a Redis that stops answering would hold the request;
 * - a completed record keeps the payload hash. `CachePersistenceLayer` 2.35 drops it when it stores the
 *   response (aws-powertools/powertools-lambda-typescript#5705, fixed in a later release), and every replay
 *   of a completed key then fails payload validation. Drop this override after upgrading.
 */
export class IngestIdempotencyStore extends CachePersistenceLayer {
  public constructor(
    private readonly redis: RedisClient,
    private readonly timeoutMillis: number,
  ) {
    super({ client: redis });
  }

  protected override _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    return this.bounded(super._getRecord(idempotencyKey));
  }

  protected override _putRecord(record: IdempotencyRecord): Promise<void> {
    return this.bounded(super._putRecord(record));
  }

  protected override _deleteRecord(record: IdempotencyRecord): Promise<void> {
    return this.bounded(super._deleteRecord(record));
  }

  protected override async _updateRecord(record: IdempotencyRecord): Promise<void> {
    const { statusAttr, expiryAttr, dataAttr, validationKeyAttr } = PERSISTENCE_ATTRIBUTE_KEY_MAPPINGS;
    const item = {
      [statusAttr]: record.getStatus(),
      [expiryAttr]: record.expiryTimestamp,
      [dataAttr]: record.responseData,
      ...(this.isPayloadValidationEnabled() && record.payloadHash !== undefined
        ? { [validationKeyAttr]: record.payloadHash }
        : {}),
    };
    const ttl =
      record.expiryTimestamp === undefined
        ? this.expiresAfterSeconds
        : Math.max(1, record.expiryTimestamp - Math.floor(Date.now() / 1000));
    await this.bounded(this.redis.set(record.idempotencyKey, JSON.stringify(item), { EX: ttl }));
  }

  private async bounded<T>(operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new StoreTimeoutError(`idempotency store did not answer within ${this.timeoutMillis} ms`)),
        this.timeoutMillis,
      );
    });
    try {
      return await Promise.race([operation, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}
