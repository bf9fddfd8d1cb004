import type { MSKEvent, MSKRecord } from 'aws-lambda';

/**
 * Lambda's partial batch response for Kafka event sources: per topic-partition, the offset to resume
 * from. Lambda commits everything before it and redelivers from it (the records after it that did
 * succeed come again; the consumer is idempotent, so that is harmless).
 */
export interface KafkaBatchItemFailure {
  readonly itemIdentifier: { readonly partition: string; readonly offset: number };
}

export interface KafkaBatchResponse {
  readonly batchItemFailures: KafkaBatchItemFailure[];
}

/** The records of an event in delivery order: per partition, ascending offsets. */
export function recordsOf(event: MSKEvent): MSKRecord[] {
  return Object.values(event.records).flatMap((records) => [...records].sort((a, b) => a.offset - b.offset));
}

/** `topic-partition`, as Lambda keys the records of an event. */
export const partitionKeyOf = (record: Pick<MSKRecord, 'topic' | 'partition'>): string =>
  `${record.topic}-${record.partition}`;

/**
 * Builds the response from the records that failed: one item per partition, at its lowest failed offset.
 * An empty list tells Lambda the whole batch succeeded.
 */
export function batchResponseFor(
  failed: Iterable<Pick<MSKRecord, 'topic' | 'partition' | 'offset'>>,
): KafkaBatchResponse {
  const lowest = new Map<string, number>();
  for (const record of failed) {
    const key = partitionKeyOf(record);
    const known = lowest.get(key);
    if (known === undefined || record.offset < known) lowest.set(key, record.offset);
  }
  return {
    batchItemFailures: [...lowest].map(([partition, offset]) => ({ itemIdentifier: { partition, offset } })),
  };
}
