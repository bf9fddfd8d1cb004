import { setMaxListeners } from 'node:events';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, MSKEvent, MSKRecord } from 'aws-lambda';
import { BrokenCircuitError, type IPolicy } from 'cockatiel';
import { applyEventsToShard, type IndexEntry, type PendingEvent } from '../customers/applyEventsToShard.js';
import { describeError } from '../describeError.js';
import { decodeEvent, PoisonRecordError } from '../events/index.js';
import { type RedisClient, untilDeadline, withDeadline } from '../redis/createRedisClient.js';
import {
  type ResilienceSettings,
  redisPolicy,
  resilienceSettings,
  shardWritePolicy,
} from '../resilience/policies.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { batchResponseFor, type KafkaBatchResponse, recordsOf } from './batchResponse.js';
import type { DeadLetter, DeadLetterSink } from './deadLetters.js';
import { ShardUnavailableError } from './errors.js';
import { IndexMaintainer } from './IndexMaintainer.js';
import { type Parking, parkedRecordOf } from './parking.js';
import { type EventOutcome, ShardBatcher } from './ShardBatcher.js';

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

/** What happened to the events of an invocation, or (as `totals`) of every invocation so far. */
export interface Counters {
  applied: number;
  stale: number;
  duplicates: number;
  poison: number;
  failed: number;
  /** Moved to the retry topic because their shard was unavailable. */
  parked: number;
  idempotencyBypassed: number;
}

/**
 * Applies a batch of MSK records to the customer shards, exactly once per event:
 * - poison records (undecodable, invalid, unknown type) go to the dead-letter sink with their reason
 *   and never block their neighbours;
 * - each event passes the Powertools idempotency guard (Redis) and, in the same transaction as its
 *   effect, the database guard, so it has one effect even when Redis is down (the guard is then
 *   bypassed, logged and counted);
 * - events are grouped per shard into few transactions; a failing shard fails only its records, which
 *   are reported in the partial batch response and redelivered;
 * - the Redis index follows each commit; a failed index update stays in the shard's outbox and is
 *   repaired by a later invocation.
 */
export class CustomerEventConsumer {
  private readonly settings: ConsumerSettings;
  /** Per shard: the policy and the client it guards. A repointed shard (new client) gets a fresh breaker. */
  private readonly shardPolicies = new Map<string, { client: SqlClient; policy: IPolicy }>();
  /** Guards the idempotency store; only store errors count against it. */
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
        this.shardPolicies.set(shard.id, { client, policy: shardWritePolicy(this.settings) });
    }
    this.idempotencyConfig = new IdempotencyConfig({
      eventKeyJmesPath: 'eventId',
      expiresAfterSeconds: this.settings.idempotencyTtlSeconds,
      throwOnNoIdempotencyKey: true,
    });
    this.idempotencyBreaker = redisPolicy(this.settings, isIdempotencyStoreError);
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
    const valid: Array<{ record: MSKRecord; pending: PendingEvent; shardId: string }> = [];
    const letters: Array<{ record: MSKRecord; letter: DeadLetter }> = [];

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
        letters.push({ record, letter: deadLetterOf(record, error) });
      }
    }

    await this.sendDeadLetters(letters, failed, counters);
    const deadline = new AbortController();
    // Every command of the invocation listens to this one signal.
    setMaxListeners(0, deadline.signal);
    const timer = setTimeout(() => deadline.abort(), this.settings.redisDeadlineMillis);
    const redis = this.deps.redis?.isReady ? withDeadline(this.deps.redis, deadline.signal) : undefined;
    try {
      return await this.applyAll(valid, failed, counters, redis, context, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async applyAll(
    valid: ReadonlyArray<{ record: MSKRecord; pending: PendingEvent; shardId: string }>,
    failed: MSKRecord[],
    counters: Counters,
    redis: RedisClient | undefined,
    context: Context | undefined,
    deadline: AbortSignal,
  ): Promise<KafkaBatchResponse> {
    const indexEntries = new Map<string, IndexEntry[]>();
    const batcher = new ShardBatcher(
      (shardId, events) => this.applyToShard(shardId, events, indexEntries),
      this.settings.maxEventsPerTransaction,
      this.settings.flushWaitMillis,
    );
    for (const v of valid) batcher.expect(v.shardId, 1);
    const apply = this.guarded(batcher, context, counters, redis, deadline);

    const results = await Promise.allSettled(valid.map((v) => apply(v.shardId, v.pending)));
    const parkable: MSKRecord[] = [];
    results.forEach((result, i) => {
      const item = valid[i];
      if (item === undefined) return;
      if (result.status === 'fulfilled') {
        count(counters, result.value);
      } else if (this.mayPark(item.record, result.reason)) {
        parkable.push(item.record);
      } else {
        counters.failed += 1;
        failed.push(item.record);
        this.deps.logger.warn('event not applied; it will be redelivered', {
          eventId: item.pending.event.eventId,
          shard: item.shardId,
          error: describeError(result.reason),
        });
      }
    });

    await this.park(parkable, failed, counters);
    await this.index.afterCommit(indexEntries, redis, deadline);
    this.publish(counters);
    return batchResponseFor(failed);
  }

  /** Only records of an unavailable shard, and never twice: the retry topic's records wait in place. */
  private mayPark(record: MSKRecord, reason: unknown): boolean {
    const { parking } = this.deps;
    return (
      parking !== undefined && record.topic !== parking.retryTopic && reason instanceof ShardUnavailableError
    );
  }

  /** Moves the records to the retry topic; those it cannot take stay in the partial batch response. */
  private async park(records: readonly MSKRecord[], failed: MSKRecord[], counters: Counters): Promise<void> {
    const { parking } = this.deps;
    if (records.length === 0 || parking === undefined) return;
    try {
      await parking.parker.park(records.map(parkedRecordOf));
      counters.parked += records.length;
      this.deps.logger.warn('records of an unavailable shard parked on the retry topic', {
        records: records.length,
        retryTopic: parking.retryTopic,
      });
    } catch (error: unknown) {
      // Never drop a record: unparked, it is redelivered in place.
      this.deps.logger.error('retry topic unavailable; records kept for redelivery', {
        records: records.length,
        error: describeError(error),
      });
      failed.push(...records);
      counters.failed += records.length;
    }
  }

  /** Wraps "submit to the shard batcher" in the Powertools idempotency guard, degrading to the DB guard. */
  private guarded(
    batcher: ShardBatcher,
    context: Context | undefined,
    counters: Counters,
    redis: RedisClient | undefined,
    deadline: AbortSignal,
  ) {
    const submitted = new Map<string, Promise<EventOutcome>>();
    const submit = (shardId: string, pending: PendingEvent): Promise<EventOutcome> => {
      const known = submitted.get(pending.event.eventId);
      if (known) return known;
      const outcome = batcher.submit(shardId, pending);
      submitted.set(pending.event.eventId, outcome);
      return outcome;
    };
    if (redis === undefined) {
      // Redis is not connected (down, or reconnecting): skip it instead of failing every event on it.
      return (shardId: string, pending: PendingEvent) => {
        if (this.deps.redis !== undefined) counters.idempotencyBypassed += 1;
        return submit(shardId, pending);
      };
    }
    if (context) this.idempotencyConfig.registerLambdaContext(context);
    const idempotent = makeIdempotent(
      async (_key: { eventId: string }, shardId: string, pending: PendingEvent) => submit(shardId, pending),
      {
        persistenceStore: new CachePersistenceLayer({ client: redis }),
        config: this.idempotencyConfig,
        keyPrefix: 'cdp-consumer',
      },
    );

    return async (shardId: string, pending: PendingEvent): Promise<EventOutcome> => {
      const { eventId } = pending.event;
      if (deadline.aborted) {
        counters.idempotencyBypassed += 1;
        return submit(shardId, pending);
      }
      try {
        const outcome = await this.idempotencyBreaker.execute(() =>
          untilDeadline(idempotent({ eventId }, shardId, pending), deadline),
        );
        if (!submitted.has(eventId)) {
          // Answered from the idempotency store: this event was applied by an earlier delivery.
          batcher.settleWithoutSubmit(shardId);
          return 'duplicate';
        }
        return outcome;
      } catch (error: unknown) {
        const known = submitted.get(eventId);
        if (known && !isIdempotencyStoreError(error)) throw error;
        if (known) return known;
        // The store is down, slow, or holds an in-progress record of a crashed delivery: the database
        // guard alone decides, in the same transaction as the effect.
        counters.idempotencyBypassed += 1;
        this.deps.logger.debug('idempotency store bypassed', { eventId, error: describeError(error) });
        return submit(shardId, pending);
      }
    };
  }

  private async applyToShard(
    shardId: string,
    events: readonly PendingEvent[],
    indexEntries: Map<string, IndexEntry[]>,
  ): Promise<ReadonlyMap<string, EventOutcome>> {
    const client = this.deps.shards.get(shardId);
    if (client === undefined) throw new RangeError(`unknown shard ${shardId}`);
    let guarded = this.shardPolicies.get(shardId);
    if (guarded?.client !== client) {
      // The shard was repointed (failover): its old breaker state says nothing about the new primary.
      guarded = { client, policy: shardWritePolicy(this.settings) };
      this.shardPolicies.set(shardId, guarded);
    }
    const { policy } = guarded;
    const started = performance.now();
    const result = await policy
      .execute(() => applyEventsToShard(client, events, (id) => this.deps.router.bucketOf(id)))
      .catch((error: unknown) => {
        throw error instanceof BrokenCircuitError
          ? new ShardUnavailableError(shardId, { cause: error })
          : error;
      });
    const latency = this.deps.metrics.singleMetric();
    latency.addDimension('shard', shardId);
    latency.addMetric('ShardTransactionLatency', MetricUnit.Milliseconds, performance.now() - started);
    const list = indexEntries.get(shardId) ?? [];
    list.push(...result.indexEntries);
    indexEntries.set(shardId, list);
    return result.outcomes;
  }

  private async sendDeadLetters(
    letters: ReadonlyArray<{ record: MSKRecord; letter: DeadLetter }>,
    failed: MSKRecord[],
    counters: Counters,
  ): Promise<void> {
    if (letters.length === 0) return;
    try {
      await this.deps.deadLetters.send(letters.map((l) => l.letter));
      counters.poison += letters.length;
      for (const { letter } of letters) {
        this.deps.logger.warn('poison record sent to the dead-letter destination', {
          reason: letter.reason,
          details: letter.details,
          topic: letter.record.topic,
          partition: letter.record.partition,
          offset: letter.record.offset,
        });
      }
    } catch (error: unknown) {
      // Never drop a record: if the destination is down, the records are redelivered and tried again.
      this.deps.logger.error('dead-letter destination unavailable', { error: describeError(error) });
      failed.push(...letters.map((l) => l.record));
      counters.failed += letters.length;
    }
  }

  /** Heals the index by itself (see `IndexMaintainer.repair`); tests and operators may call it directly. */
  public repairIndex(): Promise<boolean> {
    return this.index.repair(this.deps.redis);
  }

  private publish(c: Counters): void {
    for (const key of Object.keys(c) as Array<keyof Counters>) this.totals[key] += c[key];
    const { metrics } = this.deps;
    metrics.addMetric('EventsApplied', MetricUnit.Count, c.applied);
    metrics.addMetric('EventsStale', MetricUnit.Count, c.stale);
    metrics.addMetric('EventsDuplicate', MetricUnit.Count, c.duplicates);
    metrics.addMetric('EventsPoison', MetricUnit.Count, c.poison);
    metrics.addMetric('EventsFailed', MetricUnit.Count, c.failed);
    metrics.addMetric('EventsParked', MetricUnit.Count, c.parked);
    metrics.addMetric('IdempotencyStoreBypassed', MetricUnit.Count, c.idempotencyBypassed);
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

const noCounts = (): Counters => ({
  applied: 0,
  stale: 0,
  duplicates: 0,
  poison: 0,
  failed: 0,
  parked: 0,
  idempotencyBypassed: 0,
});

const count = (c: Counters, outcome: EventOutcome): void => {
  if (outcome === 'applied') c.applied += 1;
  else if (outcome === 'stale') c.stale += 1;
  else c.duplicates += 1;
};

const STORE_ERRORS = new Set([
  'IdempotencyPersistenceLayerError',
  'IdempotencyAlreadyInProgressError',
  'IdempotencyInconsistentStateError',
  'IdempotencyItemAlreadyExistsError',
  'IdempotencyPersistenceConsistencyError',
  'BrokenCircuitError',
  'RedisDeadlineError',
  'TaskCancelledError',
]);
const isIdempotencyStoreError = (error: unknown): boolean =>
  error instanceof Error && STORE_ERRORS.has(error.name);

const deadLetterOf = (record: MSKRecord, error: PoisonRecordError): DeadLetter => ({
  reason: error.reason,
  details: error.details,
  failedAt: new Date().toISOString(),
  record: {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key: record.key,
    value: record.value,
  },
});
