// Over 300 lines on purpose: one state machine: Lambda's retry, bisect, partial batch response, record age
// and on-failure destination semantics for one partition, shared by both event sources.
import { randomUUID } from 'node:crypto';
import type { LogRecord } from '../log/index.js';
import { interpretResponse } from './batchOutcome.js';
import { type EmulatorSettings, ESM_LIMITS } from './emulatorSettings.js';
import { DestinationWriteError, EventSourceError, InvalidBatchResponseError } from './errors.js';
import type { FunctionInvoker } from './FunctionInvoker.js';
import { buildFailureRecord, type FailureCondition, type LastInvocation } from './failureRecord.js';
import { buildMskEvent, estimatedEventBytes, partitionKey } from './mskEvent.js';
import type { DestinationTopicWriter, PartitionFeed } from './PartitionFeed.js';
import { backoffMillis, sleep } from './timing.js';

/** Counters shared by the workers of one emulator. */
export interface Counters {
  invocations: number;
  recordsDelivered: number;
  recordsCommitted: number;
  functionErrors: number;
  partialFailures: number;
  retries: number;
  bisects: number;
  sentToDestination: number;
}

/** Records `[from, to)` still to be handled, with the failed invocations they have had so far. */
interface Unit {
  from: number;
  to: number;
  attempts: number;
  last: LastInvocation | undefined;
  /** Set once retries are exhausted, so a failed destination write is retried without invoking again. */
  exhausted?: boolean;
}

/**
 * The poller of one partition. Units of work form a stack whose top always starts at the group's committed
 * offset and whose units are contiguous, so committing the top's progress never skips a record. Nothing is
 * committed before its records succeeded or reached the on-failure destination; all state but the
 * committed offset is disposable, so a crash or a stop simply redelivers from that offset.
 */
export class PartitionWorker {
  private readonly pending: Unit[] = [];
  private windowOpenedAt: number | undefined;
  /** True while a turn runs: a batch may be between its invocation and its commit. */
  public busy = false;
  public lag = 0;

  public constructor(
    public readonly partition: number,
    private readonly settings: EmulatorSettings,
    private readonly feed: PartitionFeed,
    private readonly writeDestination: DestinationTopicWriter,
    private readonly invoker: FunctionInvoker,
    private readonly counters: Counters,
    private readonly progressed: () => void,
  ) {}

  /**
   * Polls until `signal` aborts. A failure of the log (not of the handler) is retried with backoff when
   * retriable, and ends the worker otherwise.
   * @throws the first non-retriable error of the log.
   */
  public async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let waitMillis: number;
      this.busy = true;
      try {
        waitMillis = await this.turn();
        failures = 0;
      } catch (error: unknown) {
        if (!isRetriable(error)) throw error;
        failures += 1;
        waitMillis = backoffMillis(this.settings.retryBackoff, failures);
        this.settings.logger.warn('Local event source could not poll the partition; retrying', {
          topic: this.settings.topic,
          partition: this.partition,
          error: describe(error),
        });
      } finally {
        this.busy = false;
      }
      this.progressed();
      if (waitMillis > 0) await sleep(waitMillis, signal);
    }
  }

  /** Handles at most one batch. @returns how long to wait before the next turn. */
  public async turn(): Promise<number> {
    const { topic, batchSize, batchWindowMillis, pollIntervalMillis } = this.settings;
    const committed = await this.feed.committed();
    const end = await this.feed.endOffset();
    this.lag = end - committed;

    let unit = this.pending.at(-1);
    if (unit !== undefined && unit.from !== committed) {
      this.settings.logger.warn('Committed offset moved outside the event source; resuming from it', {
        topic,
        partition: this.partition,
        expected: unit.from,
        committed,
      });
      this.pending.length = 0;
      unit = undefined;
    }
    if (unit === undefined) {
      const available = end - committed;
      if (available <= 0) {
        this.windowOpenedAt = undefined;
        return pollIntervalMillis;
      }
      if (available < batchSize && batchWindowMillis > 0) {
        const now = Date.now();
        this.windowOpenedAt ??= now;
        const remaining = this.windowOpenedAt + batchWindowMillis - now;
        if (remaining > 0) return Math.min(remaining, pollIntervalMillis);
      }
      this.windowOpenedAt = undefined;
      unit = {
        from: committed,
        to: committed + Math.min(available, batchSize),
        attempts: 0,
        last: undefined,
      };
      this.pending.push(unit);
    }
    return this.process(unit);
  }

  private async process(unit: Unit): Promise<number> {
    const { topic, source } = this.settings;
    let records = [...(await this.feed.read(unit.from, unit.to - unit.from))];
    if (records.length !== unit.to - unit.from) {
      throw new EventSourceError(`Partition ${topic}-${this.partition} returned fewer records than it holds`);
    }

    if (unit.exhausted === true) {
      await this.discard(unit, records, 'RetryAttemptsExhausted');
      return 0;
    }
    const now = Date.now();
    const expired = (record: LogRecord) => now - record.timestamp > this.settings.maxRecordAgeMillis;
    const firstFresh = records.findIndex((record) => !expired(record));
    if (firstFresh !== 0) {
      await this.discard(
        unit,
        records.slice(0, firstFresh === -1 ? records.length : firstFresh),
        'MaximumRecordAgeExceeded',
      );
      return 0;
    }
    // A batch is consecutive records: an expired one further on ends it, and is dealt with next turn.
    const nextExpired = records.findIndex(expired);
    if (nextExpired > 0) records = this.cutTop(unit, records, nextExpired);
    const overLimit = indexOverPayloadLimit(topic, records);
    if (overLimit > 0) records = this.cutTop(unit, records, overLimit);

    if (unit.attempts > 0) this.counters.retries += 1;
    const event = buildMskEvent(source, topic, this.partition, records);
    const invocation = await this.invoker.invoke(event);
    this.counters.invocations += 1;
    this.counters.recordsDelivered += records.length;

    const firstOffset = unit.from;
    let error: unknown;
    if (invocation.kind === 'returned') {
      const batch = {
        partitionKey: partitionKey(topic, this.partition),
        firstOffset,
        lastOffset: unit.to - 1,
      };
      const outcome = interpretResponse(invocation.response, batch, this.settings.reportBatchItemFailures);
      if (outcome.kind === 'success') {
        await this.commit(unit, unit.to);
        this.pending.pop();
        return 0;
      }
      if (outcome.kind === 'partial') {
        this.counters.partialFailures += 1;
        if (outcome.resumeOffset > unit.from) await this.commit(unit, outcome.resumeOffset);
        unit.attempts += 1;
        unit.last = { requestId: invocation.requestId, responsePayload: invocation.response };
        return this.afterFailedAttempt(unit, records.slice(outcome.resumeOffset - firstOffset));
      }
      error = new InvalidBatchResponseError(outcome.reason, invocation.response);
    } else {
      error = invocation.error;
    }

    this.counters.functionErrors += 1;
    const last: LastInvocation = {
      requestId: invocation.requestId,
      functionError: 'Unhandled',
      responsePayload: errorPayload(error),
    };
    this.settings.logger.warn('Handler failed a batch', {
      topic,
      partition: this.partition,
      firstOffset: unit.from,
      lastOffset: unit.to - 1,
      attempt: unit.attempts + 1,
      error: describe(error),
    });
    if (this.settings.bisectBatchOnError && records.length > 1) {
      // Splitting does not consume a retry attempt: each half starts afresh.
      this.counters.bisects += 1;
      const middle = unit.from + Math.ceil(records.length / 2);
      this.pending.pop();
      this.pending.push({ from: middle, to: unit.to, attempts: 0, last });
      this.pending.push({ from: unit.from, to: middle, attempts: 0, last });
      return 0;
    }
    unit.attempts += 1;
    unit.last = last;
    return this.afterFailedAttempt(unit, records);
  }

  private async afterFailedAttempt(unit: Unit, remaining: readonly LogRecord[]): Promise<number> {
    if (unit.attempts > this.settings.maxRetries) {
      unit.exhausted = true;
      await this.discard(unit, remaining, 'RetryAttemptsExhausted');
      return 0;
    }
    return backoffMillis(this.settings.retryBackoff, unit.attempts);
  }

  /**
   * Sends records starting at the committed offset to the on-failure destination (or drops them, as Lambda
   * does without one), then commits past them.
   */
  private async discard(
    unit: Unit,
    records: readonly LogRecord[],
    condition: FailureCondition,
  ): Promise<void> {
    const [first, ...rest] = records;
    if (first === undefined) return;
    const { onFailure, topic, logger } = this.settings;
    const failure = buildFailureRecord({
      condition,
      functionArn: this.settings.functionArn,
      source: this.settings.source,
      topic,
      partition: this.partition,
      records: [first, ...rest],
      invokeCount: unit.attempts,
      last: unit.last,
      requestId: randomUUID(),
      now: new Date(),
    });
    const info = {
      topic,
      partition: this.partition,
      firstOffset: first.offset,
      records: records.length,
      condition,
    };
    if (onFailure === undefined) {
      logger.error('Discarding records: no on-failure destination is configured', info);
    } else {
      const destination = typeof onFailure === 'function' ? 'callback' : `topic ${onFailure.topic}`;
      try {
        if (typeof onFailure === 'function') {
          await onFailure(failure);
        } else {
          await this.writeDestination(
            onFailure.topic,
            partitionKey(topic, this.partition),
            JSON.stringify(failure),
          );
        }
      } catch (error: unknown) {
        throw new DestinationWriteError(destination, { cause: error });
      }
      this.counters.sentToDestination += records.length;
      logger.warn('Sent records to the on-failure destination', info);
    }
    const next = first.offset + records.length;
    await this.commit(unit, next);
    if (next >= unit.to) this.pending.pop();
  }

  private async commit(unit: Unit, nextOffset: number): Promise<void> {
    await this.feed.commit(nextOffset);
    this.counters.recordsCommitted += nextOffset - unit.from;
    this.lag -= nextOffset - unit.from;
    unit.from = nextOffset;
  }

  /** Shrinks the top unit to its first `keep` records; the rest becomes the unit below it. */
  private cutTop(unit: Unit, records: readonly LogRecord[], keep: number): LogRecord[] {
    this.pending.splice(this.pending.length - 1, 0, {
      from: unit.from + keep,
      to: unit.to,
      attempts: 0,
      last: undefined,
    });
    unit.to = unit.from + keep;
    return records.slice(0, keep);
  }
}

/** The index of the first record that would push the event past Lambda's payload limit, or -1. */
function indexOverPayloadLimit(topic: string, records: readonly LogRecord[]): number {
  let bytes = 0;
  for (const [index, record] of records.entries()) {
    bytes += estimatedEventBytes(topic, record);
    if (bytes > ESM_LIMITS.maxPayloadBytes && index > 0) return index;
  }
  return -1;
}

function isRetriable(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError) return false;
  if (typeof error === 'object' && error !== null && 'retriable' in error) return error.retriable === true;
  // File system errors (EMFILE, ENOSPC, EBUSY) may clear up; anything else is a bug or corruption.
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string';
}

const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

const errorPayload = (error: unknown) =>
  error instanceof Error
    ? { errorType: error.name, errorMessage: error.message }
    : { errorType: 'Error', errorMessage: String(error) };
