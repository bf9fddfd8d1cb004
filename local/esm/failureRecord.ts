import type { MSKEvent } from 'aws-lambda';
import type { LogRecord } from '../log/index.js';
import { buildMskEvent, type MskEventSource, partitionKey } from './mskEvent.js';

/** Why records left the stream without being processed. */
export type FailureCondition = 'RetryAttemptsExhausted' | 'MaximumRecordAgeExceeded';

/** What the last invocation of the failed records returned, if they were ever invoked. */
export interface LastInvocation {
  readonly requestId: string;
  readonly functionError?: 'Unhandled';
  /** The error (`errorType`, `errorMessage`) or the partial batch response that ended the last attempt. */
  readonly responsePayload?: unknown;
}

export interface KafkaRecordsInfo {
  readonly firstRecordOffset: string;
  readonly firstRecordTimestamp: string;
  readonly lastRecordOffset: string;
  readonly lastRecordTimestamp: string;
}

/**
 * The invocation record Lambda sends to an on-failure destination for a Kafka batch. Offsets are strings and
 * timestamps ISO-8601, as in AWS's examples. Two local additions: `payload` (the MSK event of the failed
 * records, ready to replay into the handler) and `responsePayload` (the last error or partial response).
 */
export interface KafkaFailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: FailureCondition;
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    /** 200 once the function ran (errors included, as Lambda reports them); 0 when it never ran. */
    readonly statusCode: number;
    readonly executedVersion: string;
    readonly functionError?: 'Unhandled';
  };
  readonly version: '1.0';
  readonly timestamp: string;
  readonly KafkaBatchInfo: {
    readonly batchSize: number;
    readonly eventSourceArn: string;
    readonly bootstrapServers: string;
    readonly payloadSize: number;
    readonly recordsInfo: Readonly<Record<string, KafkaRecordsInfo>>;
  };
  readonly payload: MSKEvent;
  readonly responsePayload?: unknown;
}

export interface FailureRecordInput {
  readonly condition: FailureCondition;
  readonly functionArn: string;
  readonly source: MskEventSource;
  readonly topic: string;
  readonly partition: number;
  /** Consecutive records of the partition, at least one. */
  readonly records: readonly [LogRecord, ...LogRecord[]];
  readonly invokeCount: number;
  readonly last: LastInvocation | undefined;
  readonly requestId: string;
  readonly now: Date;
}

const iso = (millis: number) => new Date(millis).toISOString();

/** Builds the destination record for one failed batch. */
export function buildFailureRecord(input: FailureRecordInput): KafkaFailureRecord {
  const { records, topic, partition, source, last } = input;
  const first = records[0];
  const final = records[records.length - 1] ?? first;
  const payload = buildMskEvent(source, topic, partition, records);
  return {
    requestContext: {
      requestId: last?.requestId ?? input.requestId,
      functionArn: input.functionArn,
      condition: input.condition,
      approximateInvokeCount: input.invokeCount,
    },
    responseContext: {
      statusCode: last === undefined ? 0 : 200,
      executedVersion: '$LATEST',
      ...(last?.functionError === undefined ? {} : { functionError: last.functionError }),
    },
    version: '1.0',
    timestamp: input.now.toISOString(),
    KafkaBatchInfo: {
      batchSize: records.length,
      eventSourceArn: source.eventSourceArn,
      bootstrapServers: source.bootstrapServers,
      payloadSize: Buffer.byteLength(JSON.stringify(payload), 'utf8'),
      recordsInfo: {
        [partitionKey(topic, partition)]: {
          firstRecordOffset: String(first.offset),
          firstRecordTimestamp: iso(first.timestamp),
          lastRecordOffset: String(final.offset),
          lastRecordTimestamp: iso(final.timestamp),
        },
      },
    },
    payload,
    ...(last?.responsePayload === undefined ? {} : { responsePayload: last.responsePayload }),
  };
}
