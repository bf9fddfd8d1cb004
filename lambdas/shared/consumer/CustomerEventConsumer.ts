import { setMaxListeners } from 'node:events';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, MSKEvent, MSKRecord } from 'aws-lambda';
import type { IndexEntry, PendingEvent } from '../customers/applyEventsToShard.js';
import { decodeEvent, PoisonRecordError } from '../events/index.js';
import { type RedisClient, withDeadline } from '../redis/createRedisClient.js';
import { type ResilienceSettings, resilienceSettings } from '../resilience/defaults.js';
import { redisPolicy } from '../resilience/named.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { batchResponseFor, type KafkaBatchResponse, recordsOf } from './batchResponse.js';
import { publishCounts } from './consumerMetrics.js';
import { addCounts, type Counters, countRecorded, noCounts } from './counters.js';
import {
  type DeadLetterSink,
  type PendingLetter,
  pendingLetter,
  refusalLetter,
  sendFinalLetters,
} from './deadLetters.js';
import { IdempotencyGuard } from './IdempotencyGuard.js';
import { IndexMaintainer } from './IndexMaintainer.js';
import { mayPark, type Parking, parkRecords } from './parking.js';
import { ShardBatcher } from './ShardBatcher.js';
import { ShardWriter } from './ShardWriter.js';

export type { Counters } from './counters.js';

export interface ConsumerDependencies {
  readonly router: ShardRouter;
  /** One SQL client per shard id of the router's map. */
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly deadLetters: DeadLetterSink;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Redis: the Powertools idempotency store and the secondary index. Absent means the database guard
   * alone and no index.
   */
  readonly redis?: RedisClient | undefined;
  /**
   * The retry topic: records of a shard whose breaker is open are parked there instead of holding their
   * partitions. Absent means they are reported in the partial batch response and redelivered in place.
   */
  readonly parking?: Parking | undefined;
  readonly settings?: Partial<ConsumerSettings>;
}

export interface ConsumerSettings extends ResilienceSettings {
  /** Most events applied in one shard transaction. */
  maxEventsPerTransaction: number;
  /** Longest wait for stragglers before a shard transaction starts anyway. */
  flushWaitMillis: number;
  /** How long a completed event id is remembered by the idempotency store. */
  idempotencyTtlSeconds: number;
  /** Every Redis command of one invocation is abandoned after this long (then the database guard decides). */
  redisDeadlineMillis: number;
  /** Outbox rows repaired per shard per invocation once Redis is healthy. */
  outboxDrainLimit: number;
  /** Customers per shard copied into a lost index per invocation (bounds the rebuild's database load). */
  indexRebuildPageSize: number;
}

export const CONSUMER_DEFAULTS: Omit<ConsumerSettings, keyof ResilienceSettings> = {
  maxEventsPerTransaction: 1_000,
  flushWaitMillis: 1_000,
  idempotencyTtlSeconds: 7 * 24 * 3600,
  redisDeadlineMillis: 2_000,
  outboxDrainLimit: 500,
  indexRebuildPageSize: 500,
};

/** A decoded record on its way to its shard. */
interface ValidRecord {
  readonly record: MSKRecord;
  readonly pending: PendingEvent;
  readonly shardId: string;
}

/**
 * Applies a batch of MSK records to the customer shards, exactly once per event:
 * - poison records (undecodable, invalid, unknown type, unstorable) go to the dead-letter sink with their
 *   reason and never block their neighbours; so do events whose id was recorded with another body
 *   (conflicts) and, should a value pass the schema that the database still refuses, exactly the records
 *   it refuses, found by splitting their transaction;
 * - each event passes the Powertools idempotency guard (Redis) and, in the same transaction as its
 *   effect, the database guard, so it has one effect even when Redis is down (the guard is then
 *   bypassed, logged and counted);
 * - events are grouped per shard into few transactions; a failing shard fails only its records, which
 *   are reported in the partial batch response and redelivered;
 * - a dead letter is written once: a record the event source will deliver again (at or after its
 *   partition's lowest failed offset) is dead-lettered by the delivery that commits it;
 * - the Redis index follows each commit; a failed index update stays in the shard's outbox and is
 *   repaired by a later invocation.
 */
export class CustomerEventConsumer {
  private readonly settings: ConsumerSettings;
  private readonly writer: ShardWriter;
  private readonly guard: IdempotencyGuard;
  private readonly index: IndexMaintainer;
  /** Running totals since this consumer was created (progress displays, drills). */
  public readonly totals: Counters = noCounts();

  /** @throws RangeError when a shard of the router has no SQL client. */
  public constructor(private readonly deps: ConsumerDependencies) {
    this.settings = { ...resilienceSettings(deps.settings), ...CONSUMER_DEFAULTS, ...deps.settings };
    this.writer = new ShardWriter({
      router: deps.router,
      shards: deps.shards,
      logger: deps.logger,
      metrics: deps.metrics,
      settings: this.settings,
    });
    this.guard = new IdempotencyGuard({
      resilience: this.settings,
      ttlSeconds: this.settings.idempotencyTtlSeconds,
      redisConfigured: deps.redis !== undefined,
    });
    this.index = new IndexMaintainer({
      configured: deps.redis !== undefined,
      shards: deps.shards,
      breaker: redisPolicy(this.settings),
      logger: deps.logger,
      metrics: deps.metrics,
      outboxDrainLimit: this.settings.outboxDrainLimit,
      rebuildPageSize: this.settings.indexRebuildPageSize,
    });
  }

  /**
   * Handles one MSK event as delivered by Lambda (or the local event-source emulator).
   * @returns the partial batch response: the records to redeliver, per partition.
   */
  public async handle(event: MSKEvent, context?: Context): Promise<KafkaBatchResponse> {
    const counters = noCounts();
    const failed: MSKRecord[] = [];
    const valid: ValidRecord[] = [];
    const letters: PendingLetter[] = [];

    for (const record of recordsOf(event)) {
      try {
        const decoded = decodeEvent(record.value, record.key);
        const source = { topic: record.topic, partition: record.partition, offset: record.offset };
        valid.push({
          record,
          pending: { event: decoded, source },
          shardId: this.deps.router.shardFor(decoded.customerId).id,
        });
      } catch (error: unknown) {
        if (!(error instanceof PoisonRecordError)) throw error;
        letters.push(pendingLetter(record, error.reason, error.details));
      }
    }

    const deadline = new AbortController();
    // Every command of the invocation listens to this one signal.
    setMaxListeners(0, deadline.signal);
    const timer = setTimeout(() => deadline.abort(), this.settings.redisDeadlineMillis);
    const redis = this.deps.redis?.isReady ? withDeadline(this.deps.redis, deadline.signal) : undefined;
    try {
      await this.applyAll(valid, { failed, letters, counters }, redis, context, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
    // Last, once every failure of the invocation is known: see `finalLetters`.
    await sendFinalLetters(letters, failed, counters, {
      sink: this.deps.deadLetters,
      logger: this.deps.logger,
    });
    addCounts(this.totals, counters);
    publishCounts(counters, this.deps.metrics, this.deps.logger);
    return batchResponseFor(failed);
  }

  private async applyAll(
    valid: readonly ValidRecord[],
    into: { failed: MSKRecord[]; letters: PendingLetter[]; counters: Counters },
    redis: RedisClient | undefined,
    context: Context | undefined,
    deadline: AbortSignal,
  ): Promise<void> {
    const { failed, letters, counters } = into;
    const indexEntries = new Map<string, IndexEntry[]>();
    const batcher = new ShardBatcher(
      (shardId, events) => this.writer.apply(shardId, events, indexEntries),
      this.settings.maxEventsPerTransaction,
      this.settings.flushWaitMillis,
    );
    for (const v of valid) batcher.expect(v.shardId, 1);
    const submit = this.guard.submitter({
      batcher,
      counters,
      logger: this.deps.logger,
      redis,
      context,
      deadline,
    });

    const results = await Promise.allSettled(valid.map((v) => submit(v.shardId, v.pending)));
    const parkable: MSKRecord[] = [];
    results.forEach((result, i) => {
      const item = valid[i];
      if (item === undefined) return;
      const { event } = item.pending;
      if (result.status === 'fulfilled') {
        const letter = refusalLetter(item.record, event, result.value);
        if (letter === undefined) countRecorded(counters, result.value);
        else letters.push(letter);
      } else if (mayPark(this.deps.parking, item.record, result.reason)) {
        parkable.push(item.record);
      } else {
        counters.failed += 1;
        failed.push(item.record);
        this.deps.logger.warn('event not applied; it will be redelivered', {
          eventId: event.eventId,
          shard: item.shardId,
          error: result.reason,
        });
      }
    });

    await parkRecords(parkable, failed, counters, { parking: this.deps.parking, logger: this.deps.logger });
    await this.index.afterCommit(indexEntries, redis, deadline);
  }

  /** Heals the index by itself (see `IndexMaintainer.repair`); tests and operators may call it directly. */
  public repairIndex(): Promise<boolean> {
    return this.index.repair(this.deps.redis);
  }
}
