import { setMaxListeners } from 'node:events';
import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, MSKEvent, MSKRecord } from 'aws-lambda';
import { BrokenCircuitError, type IPolicy } from 'cockatiel';
import { CONSUMER_METRIC_NAMES, DIMENSIONS } from '../contracts/index.js';
import { applyEventsToShard, type IndexEntry, type PendingEvent } from '../customers/applyEventsToShard.js';
import { describeError } from '../describeError.js';
import { decodeEvent, PoisonRecordError } from '../events/index.js';
import { type RedisClient, withDeadline } from '../redis/createRedisClient.js';
import {
  type ResilienceSettings,
  redisPolicy,
  resilienceSettings,
  shardWritePolicy,
} from '../resilience/policies.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { batchResponseFor, type KafkaBatchResponse, recordsOf } from './batchResponse.js';
import { type Counters, countRecorded, noCounts } from './counters.js';
import {
  type DeadLetterSink,
  type PendingLetter,
  pendingLetter,
  refusalLetter,
  sendFinalLetters,
} from './deadLetters.js';
import { ShardUnavailableError } from './errors.js';
import { IndexMaintainer } from './IndexMaintainer.js';
import { idempotentSubmit } from './idempotentSubmit.js';
import { applyIsolatingRejections } from './isolateRejections.js';
import type { EventOutcome } from './outcomes.js';
import { mayPark, type Parking, parkRecords } from './parking.js';
import { ShardBatcher } from './ShardBatcher.js';
import { isIdempotencyStoreFailure } from './storeErrors.js';

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
  /** Per shard: the policy and the client it guards. A repointed shard (new client) gets a fresh breaker. */
  private readonly shardPolicies = new Map<string, { client: SqlClient; policy: IPolicy }>();
  /** Guards the idempotency store; only store failures count against it. */
  private readonly idempotencyBreaker: IPolicy;
  private readonly index: IndexMaintainer;
  /** Running totals since this consumer was created (progress displays, drills). */
  public readonly totals: Counters = noCounts();
  private readonly idempotencyConfig: IdempotencyConfig;

  public constructor(private readonly deps: ConsumerDependencies) {
    this.settings = { ...resilienceSettings(deps.settings), ...CONSUMER_DEFAULTS, ...deps.settings };
    for (const shard of deps.router.shards) {
      if (!deps.shards.has(shard.id)) throw new RangeError(`no SQL client for ${shard.id}`);
      const client = deps.shards.get(shard.id);
      if (client !== undefined)
        this.shardPolicies.set(shard.id, {
          client,
          policy: shardWritePolicy(this.settings, () => this.breakerOpened(shard.id)),
        });
    }
    // The idempotent function takes the event id itself as its payload: the key is the same as through
    // a JMESPath `eventId` over `{ eventId }`, without a JMESPath interpreter built per call.
    this.idempotencyConfig = new IdempotencyConfig({
      expiresAfterSeconds: this.settings.idempotencyTtlSeconds,
      throwOnNoIdempotencyKey: true,
    });
    this.idempotencyBreaker = redisPolicy(this.settings, isIdempotencyStoreFailure);
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
    this.publish(counters);
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
      (shardId, events) => this.applyToShard(shardId, events, indexEntries),
      this.settings.maxEventsPerTransaction,
      this.settings.flushWaitMillis,
    );
    for (const v of valid) batcher.expect(v.shardId, 1);
    if (redis !== undefined && context) this.idempotencyConfig.registerLambdaContext(context);
    const submit = idempotentSubmit({
      batcher,
      counters,
      logger: this.deps.logger,
      breaker: this.idempotencyBreaker,
      config: this.idempotencyConfig,
      redis,
      redisConfigured: this.deps.redis !== undefined,
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
          error: describeError(result.reason),
        });
      }
    });

    await parkRecords(parkable, failed, counters, { parking: this.deps.parking, logger: this.deps.logger });
    await this.index.afterCommit(indexEntries, redis, deadline);
  }

  /**
   * One shard's events in one transaction through the shard's policy; when the database refuses their
   * data, the records it refuses are set apart (see `applyIsolatingRejections`) without touching the
   * breaker, which counts only unavailability.
   */
  private async applyToShard(
    shardId: string,
    events: readonly PendingEvent[],
    indexEntries: Map<string, IndexEntry[]>,
  ): Promise<ReadonlyMap<PendingEvent, EventOutcome>> {
    const client = this.deps.shards.get(shardId);
    if (client === undefined) throw new RangeError(`unknown shard ${shardId}`);
    let guarded = this.shardPolicies.get(shardId);
    if (guarded?.client !== client) {
      // The shard was repointed (failover): its old breaker state says nothing about the new primary.
      guarded = { client, policy: shardWritePolicy(this.settings, () => this.breakerOpened(shardId)) };
      this.shardPolicies.set(shardId, guarded);
    }
    const { policy } = guarded;
    const bucketOf = (id: string) => this.deps.router.bucketOf(id);
    const started = performance.now();
    const result = await applyIsolatingRejections(events, (subset) =>
      policy
        .execute(() => applyEventsToShard(client, subset, bucketOf))
        .catch((error: unknown) => {
          throw error instanceof BrokenCircuitError
            ? new ShardUnavailableError(shardId, { cause: error })
            : error;
        }),
    );
    if (result.transactions > 1) {
      this.deps.logger.warn('the shard refused the data of some records; they were set apart', {
        shard: shardId,
        events: events.length,
        transactions: result.transactions,
      });
    }
    const latency = this.deps.metrics.singleMetric();
    latency.addDimension(DIMENSIONS.shard, shardId);
    latency.addMetric(
      CONSUMER_METRIC_NAMES.shardTransactionLatency,
      MetricUnit.Milliseconds,
      performance.now() - started,
    );
    const list = indexEntries.get(shardId) ?? [];
    list.push(...result.indexEntries);
    indexEntries.set(shardId, list);
    return result.outcomes;
  }

  /** Counts an opening of `shardId`'s breaker at once (the batch may outlive the minute it opened in). */
  private breakerOpened(shardId: string): void {
    const opened = this.deps.metrics.singleMetric();
    opened.addDimension(DIMENSIONS.dependency, shardId);
    opened.addMetric(CONSUMER_METRIC_NAMES.breakerOpened, MetricUnit.Count, 1);
  }

  /** Heals the index by itself (see `IndexMaintainer.repair`); tests and operators may call it directly. */
  public repairIndex(): Promise<boolean> {
    return this.index.repair(this.deps.redis);
  }

  private publish(c: Counters): void {
    for (const key of Object.keys(c) as Array<keyof Counters>) this.totals[key] += c[key];
    const { metrics } = this.deps;
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsApplied, MetricUnit.Count, c.applied);
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsStale, MetricUnit.Count, c.stale);
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsDuplicate, MetricUnit.Count, c.duplicates);
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsPoison, MetricUnit.Count, c.poison);
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsConflicting, MetricUnit.Count, c.conflicts);
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsRejected, MetricUnit.Count, c.rejected);
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsFailed, MetricUnit.Count, c.failed);
    metrics.addMetric(CONSUMER_METRIC_NAMES.eventsParked, MetricUnit.Count, c.parked);
    metrics.addMetric(
      CONSUMER_METRIC_NAMES.idempotencyStoreBypassed,
      MetricUnit.Count,
      c.idempotencyBypassed,
    );
    if (c.idempotencyBypassed > 0) {
      this.deps.logger.warn(
        'idempotency store bypassed (unreachable, or holding in-progress records of an interrupted delivery); the database guard decided alone',
        {
          events: c.idempotencyBypassed,
        },
      );
    }
    metrics.publishStoredMetrics();
  }
}
