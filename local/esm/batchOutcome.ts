/** What the event source mapping makes of a handler's return value. */
export type BatchOutcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'partial'; readonly resumeOffset: number }
  | { readonly kind: 'invalid'; readonly reason: string };

export interface DeliveredBatch {
  /** `<topic>-<partition>` of the batch. */
  readonly partitionKey: string;
  readonly firstOffset: number;
  readonly lastOffset: number;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/**
 * Reads a partial batch response the way Lambda does for Kafka:
 * - reporting off, no object, or `batchItemFailures` null, missing or empty: the batch succeeded;
 * - every item names this batch's partition and an offset in it: resume from the lowest offset;
 * - anything else (not an array, a foreign partition, an offset outside the batch, a non-integer offset):
 *   the whole invocation failed.
 */
export function interpretResponse(
  response: unknown,
  batch: DeliveredBatch,
  reportBatchItemFailures: boolean,
): BatchOutcome {
  if (!reportBatchItemFailures || !isObject(response)) return { kind: 'success' };
  const failures = response.batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return { kind: 'invalid', reason: 'batchItemFailures is not an array' };
  if (failures.length === 0) return { kind: 'success' };

  let lowest = Number.POSITIVE_INFINITY;
  for (const failure of failures) {
    const identifier: unknown = isObject(failure) ? failure.itemIdentifier : undefined;
    if (!isObject(identifier)) return { kind: 'invalid', reason: 'an item has no itemIdentifier object' };
    const { partition, offset } = identifier;
    if (partition !== batch.partitionKey) {
      return {
        kind: 'invalid',
        reason: `partition ${JSON.stringify(partition)} is not ${batch.partitionKey}`,
      };
    }
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) {
      return { kind: 'invalid', reason: `offset ${JSON.stringify(offset)} is not an integer` };
    }
    if (offset < batch.firstOffset || offset > batch.lastOffset) {
      return {
        kind: 'invalid',
        reason: `offset ${offset} is outside the batch (${batch.firstOffset}-${batch.lastOffset})`,
      };
    }
    lowest = Math.min(lowest, offset);
  }
  return { kind: 'partial', resumeOffset: lowest };
}
