import { setMaxListeners } from 'node:events';
import { type LocalLog, UnknownTopicError } from '../log/index.js';
import {
  EMULATOR_DEFAULTS,
  type EmulatorSettings,
  type EventSourceEmulatorOptions,
  type EventSourceStats,
  resolveSettings,
} from './emulatorSettings.js';
import { DrainTimeoutError } from './errors.js';
import { FunctionInvoker } from './FunctionInvoker.js';
import type { PartitionFeed } from './PartitionFeed.js';
import { type Counters, PartitionWorker } from './PartitionWorker.js';
import { sleep } from './timing.js';

/** How often a running emulator looks for partitions added to its topic. */
export const PARTITION_DISCOVERY_MILLIS = 1_000;

interface Run {
  readonly controller: AbortController;
  readonly loops: Set<Promise<void>>;
  readonly supervisor: Promise<void>;
}

/**
 * Plays the part of a Lambda event source mapping for Amazon MSK in provisioned mode, over a LocalLog:
 * polls every partition of a topic for a consumer group, invokes the real handler with the exact MSK event,
 * and applies the mapping's batching, retry, bisect, partial batch response, record age and on-failure
 * destination semantics. At-least-once: offsets are committed only after the handler succeeded or the
 * records reached the destination, so a crash anywhere redelivers from the last commit.
 *
 * Run only one emulator per group and topic at a time, as Lambda runs one mapping per consumer group.
 */
export class EventSourceEmulator {
  private readonly settings: EmulatorSettings;
  private readonly log: LocalLog;
  private readonly invoker: FunctionInvoker;
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
  private readonly workers = new Map<number, PartitionWorker>();
  private run: Run | undefined;
  private starting: Promise<void> | undefined;
  private fatal: { readonly error: unknown } | undefined;
  private lastProgressAt = 0;
  /** Lag as last seen by the workers of a finished run. */
  private stoppedLag: Record<number, number> = {};

  /** @throws {InvalidEventSourceOptionsError} for an option Lambda would reject. */
  public constructor(options: EventSourceEmulatorOptions) {
    this.settings = resolveSettings(options);
    this.log = options.log;
    this.invoker = new FunctionInvoker(
      this.settings.handler,
      {
        functionName: this.settings.functionName,
        functionArn: this.settings.functionArn,
        memoryLimitInMB: EMULATOR_DEFAULTS.memoryLimitInMB,
      },
      this.settings.functionTimeoutMillis,
      this.settings.concurrency,
    );
  }

  /**
   * Starts polling every partition; processing continues in the background until `stop`. Creates the
   * destination topic (one partition) when it does not exist yet. Calling it while running does nothing.
   * @throws {UnknownTopicError} when the source topic does not exist.
   */
  public async start(): Promise<void> {
    if (this.run !== undefined) return;
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
  }

  /**
   * Stops polling, lets the batches in the handler finish and be committed, and resolves once every
   * partition is idle. Records not yet committed (a batch waiting to be retried, for one) are redelivered
   * by the next run.
   */
  public async stop(): Promise<void> {
    const run = this.run;
    if (run === undefined) return;
    run.controller.abort();
    await run.supervisor;
    await Promise.allSettled([...run.loops]);
    this.run = undefined;
    this.stoppedLag = this.stats().lag;
    this.workers.clear();
    this.emitProgress();
    this.settings.logger.info('Local event source stopped', { topic: this.settings.topic, ...this.stats() });
  }

  /**
   * Resolves once every record of every partition is committed (processed or sent to the destination) and
   * no batch is in flight. Starts the emulator for the duration when it is not running.
   * @throws {DrainTimeoutError} when `timeoutMillis` passes first.
   * @throws the error that stopped a partition (a corrupt log, for one).
   */
  public async drain(options: { readonly timeoutMillis?: number } = {}): Promise<void> {
    const startedHere = this.run === undefined;
    await this.start();
    const deadline = Date.now() + (options.timeoutMillis ?? Number.POSITIVE_INFINITY);
    try {
      for (;;) {
        if (this.fatal !== undefined) throw this.fatal.error;
        const lag = await this.log.lag(this.settings.group, this.settings.topic);
        const busy = [...this.workers.values()].some((worker) => worker.busy);
        if (!busy && Object.values(lag).every((records) => records === 0)) break;
        if (Date.now() > deadline) throw new DrainTimeoutError(options.timeoutMillis ?? 0, lag);
        await sleep(this.settings.pollIntervalMillis);
      }
    } finally {
      if (startedHere) await this.stop();
    }
  }

  /** Counters since construction, and the lag per partition as last polled. */
  public stats(): EventSourceStats {
    const lag: Record<number, number> = { ...this.stoppedLag };
    for (const [partition, worker] of this.workers) lag[partition] = worker.lag;
    return { ...this.counters, lag };
  }

  private async launch(): Promise<void> {
    const { topic, onFailure } = this.settings;
    const { log } = this;
    await log.partitionsOf(topic);
    if (onFailure !== undefined && typeof onFailure !== 'function') {
      const exists = await log.partitionsOf(onFailure.topic).then(
        () => true,
        (error: unknown) => {
          if (error instanceof UnknownTopicError) return false;
          throw error;
        },
      );
      if (!exists) await log.createTopic(onFailure.topic, 1);
    }
    this.fatal = undefined;
    const controller = new AbortController();
    // One listener per partition worker waits on this signal.
    setMaxListeners(0, controller.signal);
    const loops = new Set<Promise<void>>();
    await this.discoverPartitions(controller, loops);
    const supervisor = this.supervise(controller, loops);
    this.run = { controller, loops, supervisor };
    this.settings.logger.info('Local event source started', { topic, group: this.settings.group });
  }

  private async supervise(controller: AbortController, loops: Set<Promise<void>>): Promise<void> {
    const { signal } = controller;
    while (!signal.aborted) {
      await sleep(PARTITION_DISCOVERY_MILLIS, signal);
      if (signal.aborted) return;
      try {
        await this.discoverPartitions(controller, loops);
      } catch (error: unknown) {
        this.settings.logger.warn('Could not list the partitions of the topic', { error: String(error) });
      }
    }
  }

  private async discoverPartitions(controller: AbortController, loops: Set<Promise<void>>): Promise<void> {
    const partitions = await this.log.partitionsOf(this.settings.topic);
    for (let partition = 0; partition < partitions; partition += 1) {
      if (this.workers.has(partition)) continue;
      const worker = new PartitionWorker(
        partition,
        this.settings,
        localLogFeed(this.log, this.settings.group, this.settings.topic, partition),
        this.writeDestination,
        this.invoker,
        this.counters,
        () => this.maybeEmitProgress(),
      );
      this.workers.set(partition, worker);
      const loop = worker
        .run(controller.signal)
        .catch((error: unknown) => this.failed(error, partition, controller));
      loops.add(loop);
    }
  }

  private readonly writeDestination = async (topic: string, key: string, value: string): Promise<void> => {
    await this.log.append(topic, [{ key, value, timestamp: Date.now() }]);
  };

  /** A partition hit an error that retrying cannot fix: stop everything and surface it through `drain`. */
  private failed(error: unknown, partition: number, controller: AbortController): void {
    this.fatal ??= { error };
    this.settings.logger.error('Local event source stopped on an unrecoverable error', {
      topic: this.settings.topic,
      partition,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    controller.abort();
  }

  private maybeEmitProgress(): void {
    if (Date.now() - this.lastProgressAt >= this.settings.progressIntervalMillis) this.emitProgress();
  }

  private emitProgress(): void {
    if (this.settings.onProgress === undefined) return;
    this.lastProgressAt = Date.now();
    this.settings.onProgress(this.stats());
  }
}

/** A partition of the local log as the worker reads it: the whole partition, offsets committed in the log. */
function localLogFeed(log: LocalLog, group: string, topic: string, partition: number): PartitionFeed {
  return {
    committed: () => log.committed(group, topic, partition),
    endOffset: () => log.endOffset(topic, partition),
    read: (from, count) => log.read(topic, partition, from, count),
    commit: (nextOffset) => log.commit(group, topic, partition, nextOffset),
  };
}
