// Over 300 lines on purpose: one consumer group member's lifecycle (start, crash and stall replacement, stop,
// drain) and its delivery loop share the member, its abort signal and its counters; the parts that stand
// alone live beside it (StallWatchdog, BatchWindow, kafkaFailures, kafkaSourceSettings).
import { setMaxListeners } from 'node:events';
import { TimeoutStrategy, timeout } from 'cockatiel';
import kafkajs, { type Admin, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs';
import { BatchWindow } from './BatchWindow.js';
import { type EmulatorSettings, type EventSourceStats, resolveSettings } from './emulatorSettings.js';
import { CommitFailedError, DrainTimeoutError } from './errors.js';
import { FunctionInvoker } from './FunctionInvoker.js';
import { describe, isRebalance, isRetriable } from './kafkaFailures.js';
import { kafkaGroupLag } from './kafkaGroupLag.js';
import { toLogRecord } from './kafkaRecord.js';
import { KAFKA_SOURCE_DEFAULTS, type KafkaEventSourceOptions } from './kafkaSourceSettings.js';
import type { PartitionFeed } from './PartitionFeed.js';
import { type Counters, PartitionWorker } from './PartitionWorker.js';
import { StallWatchdog } from './StallWatchdog.js';
import { backoffMillis, sleep } from './timing.js';

const { KafkaJSError } = kafkajs;

/**
 * The Lambda event source mapping for MSK on a real Kafka cluster: one kafkajs consumer group member per
 * instance (run several with the same group to share the partitions, as Lambda's pollers do), the real
 * handler invoked with the exact MSK event, and the same batching, retry, bisect, partial batch response,
 * record age and on-failure destination semantics as {@link EventSourceEmulator} (they share the
 * per-partition state machine). Offsets are committed to the group only after the handler succeeded or the
 * records reached the destination; a member that loses a partition mid-batch stops before committing, and
 * the new owner redelivers from the group's committed offset.
 *
 * A fetched batch smaller than `batchSize` is held back (fetched again) until the batching window has
 * passed, as Lambda gathers records for up to the window.
 */
export class KafkaEventSource {
  private readonly settings: EmulatorSettings;
  private readonly invoker: FunctionInvoker;
  private readonly replaced = { crashed: 0, stalled: 0 };
  private readonly counters: Counters = {
    invocations: 0,
    recordsDelivered: 0,
    recordsCommitted: 0,
    functionErrors: 0,
    partialFailures: 0,
    retries: 0,
    bisects: 0,
    sentToDestination: 0,
  };
  private readonly lag = new Map<number, number>();
  private readonly window: BatchWindow;
  private inFlight = 0;
  private readonly watchdog: StallWatchdog<Consumer>;
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  private controller: AbortController | undefined;
  private starting: Promise<void> | undefined;
  private fatal: { readonly error: unknown } | undefined;
  private lastProgressAt = 0;
  private readonly commitDeadline = timeout(
    KAFKA_SOURCE_DEFAULTS.commitTimeoutMillis,
    TimeoutStrategy.Aggressive,
  );

  /** @throws {InvalidEventSourceOptionsError} for an option Lambda would reject. */
  public constructor(private readonly options: KafkaEventSourceOptions) {
    this.settings = resolveSettings({
      ...options,
      bootstrapServers: options.bootstrapServers ?? options.brokers.join(','),
    });
    this.invoker = new FunctionInvoker(
      this.settings.handler,
      {
        functionName: this.settings.functionName,
        functionArn: this.settings.functionArn,
        memoryLimitInMB: 1_024,
      },
      this.settings.functionTimeoutMillis,
      this.settings.concurrency,
    );
    this.window = new BatchWindow(
      this.settings.batchSize,
      this.settings.batchWindowMillis,
      KAFKA_SOURCE_DEFAULTS.windowRecheckMillis,
    );
    const stallMillis = options.stallTimeoutMillis ?? KAFKA_SOURCE_DEFAULTS.stallTimeoutMillis;
    this.watchdog = new StallWatchdog({
      stallMillis,
      checkMillis: Math.min(KAFKA_SOURCE_DEFAULTS.stallCheckMillis, Math.ceil(stallMillis / 3)),
      member: () => this.consumer,
      readLag: () => this.groupLag(),
    });
  }

  /** The consumer group this mapping's member belongs to. */
  public get group(): string {
    return this.settings.group;
  }

  /**
   * Joins the group and starts delivering; returns once the consumer runs. Creates the destination topic
   * (one partition) when missing. Calling it while running does nothing.
   * @throws when the cluster cannot be reached or the topic does not exist.
   */
  public async start(): Promise<void> {
    if (this.consumer !== undefined) return;
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
  }

  /**
   * Leaves the group: batches in the handler finish and commit, later records stay for the next member.
   */
  public async stop(): Promise<void> {
    const consumer = this.consumer;
    if (consumer === undefined) return;
    this.controller?.abort();
    this.watchdog.stop();
    await consumer.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.consumer = undefined;
    this.producer = undefined;
    this.admin = undefined;
    this.emitProgress();
    this.settings.logger.info('Kafka event source stopped', { topic: this.settings.topic, ...this.stats() });
  }

  /**
   * Resolves once the group has committed every record of the topic and no batch is in flight. Starts the
   * member for the duration when it is not running.
   * @throws {DrainTimeoutError} when `timeoutMillis` passes first.
   * @throws the error that stopped the member.
   */
  public async drain(options: { readonly timeoutMillis?: number } = {}): Promise<void> {
    const startedHere = this.consumer === undefined;
    await this.start();
    const deadline = Date.now() + (options.timeoutMillis ?? Number.POSITIVE_INFINITY);
    try {
      for (;;) {
        if (this.fatal !== undefined) throw this.fatal.error;
        // A coordinator still loading (a fresh or busy cluster) answers the offset fetch with a retriable
        // error: ask again, within the deadline.
        const lag = await this.groupLag().catch((error: unknown) => {
          if (error instanceof KafkaJSError && isRetriable(error)) return undefined;
          throw error;
        });
        const drained = lag !== undefined && Object.values(lag).every((records) => records === 0);
        if (this.inFlight === 0 && drained) break;
        if (Date.now() > deadline) throw new DrainTimeoutError(options.timeoutMillis ?? 0, lag ?? {});
        await sleep(100);
      }
    } finally {
      if (startedHere) await this.stop();
    }
  }

  /** Unconsumed records per partition of the topic for the group, read from the cluster. */
  public async groupLag(): Promise<Record<number, number>> {
    const lag = await kafkaGroupLag(await this.connectedAdmin(), this.settings.group, this.settings.topic);
    for (const [partition, records] of Object.entries(lag)) this.lag.set(Number(partition), records);
    return lag;
  }

  /** Counters since construction, and the lag per partition as last seen. */
  public stats(): EventSourceStats {
    return { ...this.counters, lag: Object.fromEntries(this.lag), membersReplaced: { ...this.replaced } };
  }

  private async connectedAdmin(): Promise<Admin> {
    if (this.admin === undefined) {
      const admin = this.options.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  private async launch(): Promise<void> {
    const { topic, group, onFailure } = this.settings;
    const admin = await this.connectedAdmin();
    if (onFailure !== undefined && typeof onFailure !== 'function') {
      const existing = new Set(await admin.listTopics());
      if (!existing.has(onFailure.topic)) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic: onFailure.topic, numPartitions: 1 }],
        });
      }
      const producer = this.options.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      this.producer = producer;
    }
    this.fatal = undefined;
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    this.controller = controller;
    try {
      await this.runConsumer(controller.signal);
    } catch (error: unknown) {
      controller.abort();
      await this.consumer?.disconnect().catch(() => undefined);
      this.consumer = undefined;
      throw error;
    }
    this.watchdog.start(controller.signal, (stalledMember, stalled) => {
      this.settings.logger.warn(
        'Kafka consumer made no progress on partitions with records waiting; starting a new one',
        { topic, group, stallMillis: this.watchdog.stallMillis, stalled },
      );
      this.replaced.stalled += 1;
      void this.replaceConsumer(stalledMember, controller.signal);
    });
    this.settings.logger.info('Kafka event source started', { topic, group });
  }

  /**
   * Joins the group with a new kafkajs consumer. kafkajs restarts a consumer that crashed on a retriable
   * error by itself, but stops for good after any other (seen after a whole-cluster restart); a poller never
   * gives up, so such a crash starts a new consumer here.
   */
  private async runConsumer(signal: AbortSignal): Promise<void> {
    const { topic, group, concurrency } = this.settings;
    const consumer = this.options.kafka.consumer({
      groupId: group,
      sessionTimeout: this.options.sessionTimeoutMillis ?? KAFKA_SOURCE_DEFAULTS.sessionTimeoutMillis,
      heartbeatInterval: KAFKA_SOURCE_DEFAULTS.heartbeatIntervalMillis,
      rebalanceTimeout: KAFKA_SOURCE_DEFAULTS.rebalanceTimeoutMillis,
      metadataMaxAge: KAFKA_SOURCE_DEFAULTS.metadataMaxAgeMillis,
      maxWaitTimeInMs: KAFKA_SOURCE_DEFAULTS.fetchWaitMillis,
      maxBytesPerPartition: KAFKA_SOURCE_DEFAULTS.maxBytesPerPartition,
      allowAutoTopicCreation: false,
      retry: { ...KAFKA_SOURCE_DEFAULTS.consumerRetry, restartOnFailure: async () => true },
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || signal.aborted) return;
      this.settings.logger.warn('Kafka consumer stopped after an error; starting a new one', {
        topic,
        group,
        error: describe(payload.error),
      });
      this.replaced.crashed += 1;
      void this.replaceConsumer(consumer, signal);
    });
    this.consumer = consumer;
    this.watchdog.memberStarted();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Number.isFinite(concurrency)
        ? concurrency
        : KAFKA_SOURCE_DEFAULTS.defaultPartitionsConcurrently,
      eachBatch: (payload) => this.deliver(payload, consumer, signal),
    });
  }

  private async replaceConsumer(crashed: Consumer, signal: AbortSignal): Promise<void> {
    await crashed.disconnect().catch(() => undefined);
    for (let attempt = 1; !signal.aborted && this.consumer === crashed; attempt += 1) {
      await sleep(backoffMillis(this.settings.retryBackoff, attempt), signal);
      if (signal.aborted) return;
      try {
        await this.runConsumer(signal);
        return;
      } catch (error: unknown) {
        this.settings.logger.warn('Could not start a new Kafka consumer; retrying', {
          error: describe(error),
        });
        const failed = this.consumer;
        await failed?.disconnect().catch(() => undefined);
        this.consumer = crashed;
      }
    }
  }

  /**
   * Runs the mapping's semantics over one fetched batch until every record in it is committed or sent to
   * the destination, or this member must let go of the partition (stopping, rebalance).
   */
  private async deliver(payload: EachBatchPayload, consumer: Consumer, signal: AbortSignal): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload;
    const records = batch.messages.map(toLogRecord);
    const first = records[0];
    if (first === undefined) return;
    const end = first.offset + records.length;
    const { partition, topic } = batch;
    if (await this.window.holdBack(partition, records.length, signal)) return;
    let position = first.offset;
    const feed: PartitionFeed = {
      committed: async () => position,
      endOffset: async () => end,
      read: async (from, count) => records.slice(from - first.offset, from - first.offset + count),
      commit: async (nextOffset) => {
        try {
          await this.commitDeadline.execute(() =>
            consumer.commitOffsets([{ topic, partition, offset: String(nextOffset) }]),
          );
        } catch (error: unknown) {
          throw new CommitFailedError(topic, partition, nextOffset, error);
        }
        resolveOffset(String(nextOffset - 1));
        position = nextOffset;
        this.watchdog.committed(partition);
        this.lag.set(partition, Math.max(0, Number(batch.highWatermark) - nextOffset));
      },
    };
    // The batching window was applied above; the worker delivers what it holds at once.
    const worker = new PartitionWorker(
      partition,
      { ...this.settings, batchWindowMillis: 0 },
      feed,
      this.writeDestination,
      this.invoker,
      this.counters,
      () => this.maybeEmitProgress(),
    );
    this.lag.set(partition, Math.max(0, Number(batch.highWatermark) - position));
    // Heartbeats keep the membership while the handler runs and while a failing batch waits for its retry.
    const beat = setInterval(() => {
      heartbeat().catch(() => undefined);
    }, KAFKA_SOURCE_DEFAULTS.heartbeatIntervalMillis);
    this.inFlight += 1;
    this.watchdog.batchStarted(partition);
    let failures = 0;
    try {
      while (position < end && isRunning() && !isStale() && !signal.aborted) {
        let waitMillis: number;
        try {
          waitMillis = await worker.turn();
          failures = 0;
        } catch (error: unknown) {
          if (error instanceof CommitFailedError) {
            // Lost the partition (rebalance) or the brokers: kafkajs fetches the batch again from the last
            // commit once this member is back in the group, or another member does.
            this.settings.logger.warn('Could not commit; the records are delivered again', {
              topic,
              partition,
              error: describe(error),
              rebalance: isRebalance(error),
            });
            return;
          }
          if (!isRetriable(error)) {
            this.fatal ??= { error };
            this.settings.logger.error('Kafka event source stopped on an unrecoverable error', {
              topic,
              partition,
              error: describe(error),
            });
            this.controller?.abort();
            return;
          }
          failures += 1;
          waitMillis = backoffMillis(this.settings.retryBackoff, failures);
          this.settings.logger.warn('Kafka event source could not commit or write; retrying', {
            topic,
            partition,
            error: describe(error),
          });
        }
        this.maybeEmitProgress();
        if (waitMillis > 0) await sleep(waitMillis, signal);
      }
    } finally {
      clearInterval(beat);
      this.inFlight -= 1;
      this.watchdog.batchFinished(partition);
    }
  }

  private readonly writeDestination = async (topic: string, key: string, value: string): Promise<void> => {
    const producer = this.producer;
    if (producer === undefined) throw new TypeError('no producer for the on-failure destination');
    await producer.send({ topic, acks: -1, messages: [{ key, value }] });
  };

  private maybeEmitProgress(): void {
    if (Date.now() - this.lastProgressAt >= this.settings.progressIntervalMillis) this.emitProgress();
  }

  private emitProgress(): void {
    if (this.settings.onProgress === undefined) return;
    this.lastProgressAt = Date.now();
    this.settings.onProgress(this.stats());
  }
}
