import type { LocalLog } from '../log/index.js';
import { InvalidEventSourceOptionsError } from './errors.js';
import type { MskHandler } from './FunctionInvoker.js';
import type { KafkaFailureRecord } from './failureRecord.js';
import { functionArnFor } from './lambdaContext.js';
import { LOCAL_EVENT_SOURCE, type MskEventSource } from './mskEvent.js';

/** Structured logging; a Powertools `Logger` fits. */
export interface EmulatorLogger {
  info(message: string, ...attributes: Array<Record<string, unknown>>): void;
  warn(message: string, ...attributes: Array<Record<string, unknown>>): void;
  error(message: string, ...attributes: Array<Record<string, unknown>>): void;
}

/** A topic of the same log (Lambda's Kafka destination), or a function that stores the record durably. */
export type FailureDestination = { readonly topic: string } | ((record: KafkaFailureRecord) => Promise<void>);

export interface RetryBackoff {
  readonly initialMillis: number;
  readonly maxMillis: number;
}

export interface EventSourceStats {
  /** Handler calls, retries and bisected halves included. */
  readonly invocations: number;
  /** Records passed to the handler, counting each redelivery. */
  readonly recordsDelivered: number;
  /** Records the group's committed offset moved past (processed or sent to the destination). */
  readonly recordsCommitted: number;
  /** Invocations that threw, timed out or returned an invalid batch response. */
  readonly functionErrors: number;
  /** Invocations that returned a valid partial batch response. */
  readonly partialFailures: number;
  /** Invocations that redelivered records after a failed attempt. */
  readonly retries: number;
  readonly bisects: number;
  /** Records written to the on-failure destination. */
  readonly sentToDestination: number;
  /** Unconsumed records per partition, as last seen. */
  readonly lag: Readonly<Record<number, number>>;
  /**
   * Consumer group members replaced by a new one (the Kafka backend only): after kafkajs stopped one for
   * good (`crashed`), or after the watchdog found one holding partitions it no longer fetched (`stalled`).
   */
  readonly membersReplaced?: { readonly crashed: number; readonly stalled: number };
}

/** What every event source takes, whichever log it reads: the mapping's settings and the function. */
export interface EventSourceOptions {
  readonly topic: string;
  /** The consumer group (Lambda's `ConsumerGroupId`, by default the mapping's UUID). */
  readonly group: string;
  readonly handler: MskHandler;
  /** Most records per invocation: 1-10,000, default 100. */
  readonly batchSize?: number;
  /** How long to gather records into a batch smaller than `batchSize`: 0-300,000 ms, default 500 (Lambda's for Kafka). */
  readonly batchWindowMillis?: number;
  /** Partitions whose batches may be in the handler at once; default all. One batch per partition, always. */
  readonly concurrency?: number;
  /** Retries after the first attempt: -1 (infinite, but 10 when a destination is set) to 10,000. */
  readonly retryAttempts?: number;
  /** Records older than this go to the destination undelivered: -1 (infinite, default) or seconds > 0. */
  readonly maxRecordAgeSeconds?: number;
  readonly bisectBatchOnError?: boolean;
  /** Honour `batchItemFailures` in the handler's response (`FunctionResponseTypes: ReportBatchItemFailures`). */
  readonly reportBatchItemFailures?: boolean;
  readonly onFailure?: FailureDestination;
  /** A handler still running after this long counts as a function error: 1-900,000 ms, default 30,000. */
  readonly functionTimeoutMillis?: number;
  readonly functionName?: string;
  readonly functionArn?: string;
  readonly eventSourceArn?: string;
  readonly bootstrapServers?: string;
  /** How often an idle partition looks for new records; default 50 ms. */
  readonly pollIntervalMillis?: number;
  /** Pause between attempts of a failing batch (jittered, doubling); default 100 ms up to 5 s. */
  readonly retryBackoff?: RetryBackoff;
  readonly onProgress?: (stats: EventSourceStats) => void;
  /** Least time between two `onProgress` calls; default 1,000 ms. */
  readonly progressIntervalMillis?: number;
  readonly logger?: EmulatorLogger;
}

/** The event source over the durable local log. */
export interface EventSourceEmulatorOptions extends EventSourceOptions {
  readonly log: LocalLog;
}

/** Lambda's defaults and limits for Kafka event source mappings in provisioned mode. */
export const ESM_LIMITS = {
  defaultBatchSize: 100,
  maxBatchSize: 10_000,
  defaultBatchWindowMillis: 500,
  maxBatchWindowMillis: 300_000,
  maxRetryAttempts: 10_000,
  retryAttemptsWithDestination: 10,
  maxRecordAgeSeconds: 604_800,
  maxFunctionTimeoutMillis: 900_000,
  /** Synchronous invocation payload limit. */
  maxPayloadBytes: 6 * 1024 * 1024,
} as const;

/** Local defaults, overridable per emulator (tests shorten them). */
export const EMULATOR_DEFAULTS = {
  functionTimeoutMillis: 30_000,
  pollIntervalMillis: 50,
  progressIntervalMillis: 1_000,
  memoryLimitInMB: 1_024,
  retryBackoff: { initialMillis: 100, maxMillis: 5_000 },
} as const;

export interface EmulatorSettings {
  readonly topic: string;
  readonly group: string;
  readonly handler: MskHandler;
  readonly batchSize: number;
  readonly batchWindowMillis: number;
  readonly concurrency: number;
  /** Failed invocations allowed beyond the first; `Infinity` for infinite. */
  readonly maxRetries: number;
  /** `Infinity` when records never expire. */
  readonly maxRecordAgeMillis: number;
  readonly bisectBatchOnError: boolean;
  readonly reportBatchItemFailures: boolean;
  readonly onFailure: FailureDestination | undefined;
  readonly functionTimeoutMillis: number;
  readonly functionName: string;
  readonly functionArn: string;
  readonly source: MskEventSource;
  readonly pollIntervalMillis: number;
  readonly retryBackoff: RetryBackoff;
  readonly onProgress: ((stats: EventSourceStats) => void) | undefined;
  readonly progressIntervalMillis: number;
  readonly logger: EmulatorLogger;
}

const silentLogger: EmulatorLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Validates the options against Lambda's limits and fills in the defaults.
 * @throws {InvalidEventSourceOptionsError} for a value Lambda would reject.
 */
export function resolveSettings(options: EventSourceOptions): EmulatorSettings {
  const batchSize = integerIn(
    'batchSize',
    options.batchSize ?? ESM_LIMITS.defaultBatchSize,
    1,
    ESM_LIMITS.maxBatchSize,
  );
  const batchWindowMillis = integerIn(
    'batchWindowMillis',
    options.batchWindowMillis ?? ESM_LIMITS.defaultBatchWindowMillis,
    0,
    ESM_LIMITS.maxBatchWindowMillis,
  );
  const concurrency =
    options.concurrency === undefined
      ? Number.POSITIVE_INFINITY
      : integerIn('concurrency', options.concurrency, 1, Number.MAX_SAFE_INTEGER);
  const retryAttempts = integerIn(
    'retryAttempts',
    options.retryAttempts ?? -1,
    -1,
    ESM_LIMITS.maxRetryAttempts,
  );
  const maxRecordAgeSeconds = options.maxRecordAgeSeconds ?? -1;
  if (
    maxRecordAgeSeconds !== -1 &&
    !(maxRecordAgeSeconds > 0 && maxRecordAgeSeconds <= ESM_LIMITS.maxRecordAgeSeconds)
  ) {
    throw new InvalidEventSourceOptionsError(
      'maxRecordAgeSeconds',
      `use -1 or (0, ${ESM_LIMITS.maxRecordAgeSeconds}]`,
    );
  }
  const onFailure = options.onFailure;
  if (onFailure !== undefined && typeof onFailure !== 'function' && onFailure.topic === options.topic) {
    throw new InvalidEventSourceOptionsError(
      'onFailure',
      'the destination topic must differ from the source topic',
    );
  }
  const functionTimeoutMillis = integerIn(
    'functionTimeoutMillis',
    options.functionTimeoutMillis ?? EMULATOR_DEFAULTS.functionTimeoutMillis,
    1,
    ESM_LIMITS.maxFunctionTimeoutMillis,
  );
  const retryBackoff = options.retryBackoff ?? EMULATOR_DEFAULTS.retryBackoff;
  integerIn('retryBackoff.initialMillis', retryBackoff.initialMillis, 0, Number.MAX_SAFE_INTEGER);
  integerIn(
    'retryBackoff.maxMillis',
    retryBackoff.maxMillis,
    retryBackoff.initialMillis,
    Number.MAX_SAFE_INTEGER,
  );
  if (options.group.length === 0) throw new InvalidEventSourceOptionsError('group', 'must not be empty');

  const source: MskEventSource = {
    eventSourceArn: options.eventSourceArn ?? LOCAL_EVENT_SOURCE.eventSourceArn,
    bootstrapServers: options.bootstrapServers ?? LOCAL_EVENT_SOURCE.bootstrapServers,
  };
  const functionName = options.functionName ?? `${options.topic}-consumer`;
  return {
    topic: options.topic,
    group: options.group,
    handler: options.handler,
    batchSize,
    batchWindowMillis,
    concurrency,
    // Lambda caps "infinite" retries at 10 once a destination can take the records.
    maxRetries:
      retryAttempts === -1
        ? onFailure === undefined
          ? Number.POSITIVE_INFINITY
          : ESM_LIMITS.retryAttemptsWithDestination
        : retryAttempts,
    maxRecordAgeMillis: maxRecordAgeSeconds === -1 ? Number.POSITIVE_INFINITY : maxRecordAgeSeconds * 1000,
    bisectBatchOnError: options.bisectBatchOnError ?? false,
    reportBatchItemFailures: options.reportBatchItemFailures ?? false,
    onFailure,
    functionTimeoutMillis,
    functionName,
    functionArn: options.functionArn ?? functionArnFor(source.eventSourceArn, functionName),
    source,
    pollIntervalMillis: integerIn(
      'pollIntervalMillis',
      options.pollIntervalMillis ?? EMULATOR_DEFAULTS.pollIntervalMillis,
      1,
      60_000,
    ),
    retryBackoff,
    onProgress: options.onProgress,
    progressIntervalMillis: options.progressIntervalMillis ?? EMULATOR_DEFAULTS.progressIntervalMillis,
    logger: options.logger ?? silentLogger,
  };
}

function integerIn(option: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidEventSourceOptionsError(option, `expected an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}
