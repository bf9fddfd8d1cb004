import { InvalidReplayRequestError } from './errors.js';
import type { EventLogReader, EventLogRecord, EventLogWriter, OffsetRange } from './eventLog.js';
import { type EventLogPolicy, eventLogPolicy } from './eventLogPolicy.js';
import { mergeRanges, rangesForTime } from './offsetRanges.js';
import type { ReplayRequest } from './replayRequest.js';

/** Header added to every copy: where the record was read (`topic/partition/offset`). */
export const REPLAYED_FROM_HEADER = 'cdp-replayed-from';
/** Header added to every copy: the original record's timestamp (ms). The copy is stamped when written. */
export const ORIGINAL_TIMESTAMP_HEADER = 'cdp-original-timestamp';

export interface ReplayTarget {
  readonly reader: EventLogReader;
  readonly writer: EventLogWriter;
  /** The topic read (the events topic). */
  readonly topic: string;
  /** The topic the copies go to (the retry topic, which the consumer also reads). */
  readonly targetTopic: string;
  readonly policy?: EventLogPolicy;
  /** Called after each chunk written, with the running count of records copied. */
  readonly onProgress?: (progress: ReplayProgress) => void;
}

export interface ReplayProgress {
  readonly partition: number;
  readonly offset: number;
  readonly replayed: number;
}

export interface ReplaySummary {
  readonly ranges: readonly OffsetRange[];
  /** Records copied to the target topic. */
  readonly replayed: number;
}

/** A copy of a record: key, value and headers unchanged, plus where it came from. */
export function copyOf(topic: string, record: EventLogRecord) {
  return {
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [REPLAYED_FROM_HEADER]: Buffer.from(`${topic}/${record.partition}/${record.offset}`),
      [ORIGINAL_TIMESTAMP_HEADER]: Buffer.from(String(record.timestamp)),
    },
  };
}

/**
 * Re-delivers offset ranges of `topic` to `targetTopic`, record by record unchanged (see {@link copyOf}).
 * Overlapping ranges are copied once. `accept` can leave records out (a time range's stragglers).
 *
 * @throws {EventLogUnavailableError} when the log stays unreachable through the policy's retries.
 * @throws {EventLogRequestError} when the log refuses a request (unknown topic or partition).
 */
export async function replayRanges(
  target: ReplayTarget,
  ranges: readonly OffsetRange[],
  accept: (record: EventLogRecord) => boolean = () => true,
): Promise<ReplaySummary> {
  const policy = target.policy ?? eventLogPolicy();
  const merged = mergeRanges(ranges);
  let replayed = 0;
  for (const range of merged) {
    // A retried read copies the range again from its start (and an abandoned attempt may still be
    // running): each attempt counts its own copies, and only the attempt that finished is added.
    replayed += await policy.execute(
      async () => {
        let copied = 0;
        await target.reader.read(target.topic, range, async (records) => {
          const copies = records.filter(accept).map((r) => copyOf(target.topic, r));
          if (copies.length > 0) await target.writer.write(target.targetTopic, copies);
          copied += copies.length;
          const last = records.at(-1);
          if (last !== undefined)
            target.onProgress?.({
              partition: range.partition,
              offset: last.offset,
              replayed: replayed + copied,
            });
        });
        return copied;
      },
      { topic: target.topic, ...range },
    );
  }
  return { ranges: merged, replayed };
}

/**
 * Re-delivers every record of `topic` stamped in `[from, to)` to `targetTopic`.
 * @throws {EventLogUnavailableError} when the log stays unreachable through the policy's retries.
 * @throws {EventLogRequestError} when the log refuses a request.
 */
export async function replayTimeRange(
  target: ReplayTarget,
  from: number,
  to: number,
): Promise<ReplaySummary> {
  const policy = target.policy ?? eventLogPolicy();
  const ranges = await policy.execute(() => rangesForTime(target.reader, target.topic, from, to), {
    topic: target.topic,
    from,
    to,
  });
  return replayRanges({ ...target, policy }, ranges, (r) => r.timestamp >= from && r.timestamp < to);
}

/**
 * Runs a validated replay request: a time range over every partition, or one partition's offsets.
 * @throws {InvalidReplayRequestError} when the partition does not exist.
 * @throws {EventLogUnavailableError} when the log stays unreachable through the policy's retries.
 * @throws {EventLogRequestError} when the log refuses a request.
 */
export async function runReplay(target: ReplayTarget, request: ReplayRequest): Promise<ReplaySummary> {
  const policy = target.policy ?? eventLogPolicy();
  if (request.kind === 'time') return replayTimeRange({ ...target, policy }, request.from, request.to);
  const partitions = await policy.execute(() => target.reader.partitions(target.topic), {
    topic: target.topic,
  });
  if (request.partition >= partitions) {
    throw new InvalidReplayRequestError(
      `partition ${request.partition} does not exist: ${target.topic} has ${partitions} partitions`,
      { context: { topic: target.topic, partition: request.partition, partitions } },
    );
  }
  const { kind: _kind, ...range } = request;
  return replayRanges({ ...target, policy }, [range]);
}
