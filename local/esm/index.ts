export { type BatchOutcome, interpretResponse } from './batchOutcome.js';
export { EventSourceEmulator, PARTITION_DISCOVERY_MILLIS } from './EventSourceEmulator.js';
export {
  EMULATOR_DEFAULTS,
  type EmulatorLogger,
  ESM_LIMITS,
  type EventSourceEmulatorOptions,
  type EventSourceOptions,
  type EventSourceStats,
  type FailureDestination,
  type RetryBackoff,
} from './emulatorSettings.js';
export {
  DestinationWriteError,
  DrainTimeoutError,
  EventSourceError,
  FunctionTimeoutError,
  InvalidBatchResponseError,
  InvalidEventSourceOptionsError,
} from './errors.js';
export type { MskHandler } from './FunctionInvoker.js';
export type { FailureCondition, KafkaFailureRecord, KafkaRecordsInfo } from './failureRecord.js';
export { KafkaEventSource } from './KafkaEventSource.js';
export { kafkaGroupLag } from './kafkaGroupLag.js';
export { KAFKA_SOURCE_DEFAULTS, type KafkaEventSourceOptions } from './kafkaSourceSettings.js';
export { createLambdaContext, type FunctionIdentity, functionArnFor } from './lambdaContext.js';
export {
  buildMskEvent,
  LOCAL_EVENT_SOURCE,
  type MskEventSource,
  partitionKey,
  toMskRecord,
} from './mskEvent.js';
