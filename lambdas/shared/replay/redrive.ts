import type { OffsetRange } from './eventLog.js';
import type { EventLogPolicy } from './eventLogPolicy.js';
import { mergeRanges } from './offsetRanges.js';
import { type ReplayTarget, replayRanges } from './replayRecords.js';

/** One message of the on-failure destination, with what acknowledges it. */
export interface RedriveMessage {
  readonly receipt: string;
  readonly body: string;
}

/**
 * The consumer's on-failure destination as the redrive reads it: the encrypted SQS queue in AWS, the DLQ
 * topic locally. `receive` hands over messages it has not handed over in this run (and that no run
 * acknowledged); `acknowledge`, called after every round with the failed batches it redrove, removes them
 * (AWS) or moves a cursor past the round (local), so a second redrive does not copy them again.
 */
export interface RedriveSource {
  receive(max: number): Promise<readonly RedriveMessage[]>;
  acknowledge(receipts: readonly string[]): Promise<void>;
}

/** A range of a topic that the event source gave up on. */
export interface FailedRange extends OffsetRange {
  readonly topic: string;
}

/** What one destination message is. */
export type FailureMessage =
  | { readonly kind: 'failed-batch'; readonly ranges: readonly FailedRange[] }
  /** A poison record the consumer dead-lettered on purpose, with its reason: never redriven. */
  | { readonly kind: 'dead-letter' }
  | { readonly kind: 'unrecognised'; readonly reason: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Classifies a destination message: Lambda's Kafka invocation record for a failed batch (its ranges, from
 * `KafkaBatchInfo.recordsInfo`, keyed `<topic>-<partition>` with offsets as strings), a dead letter of the
 * consumer, or something else.
 */
export function classifyFailureMessage(body: string): FailureMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'unrecognised', reason: 'not JSON' };
  }
  if (!isObject(parsed)) return { kind: 'unrecognised', reason: 'not a JSON object' };
  if (parsed.kind === 'poison-record') return { kind: 'dead-letter' };
  const info = isObject(parsed.KafkaBatchInfo) ? parsed.KafkaBatchInfo.recordsInfo : undefined;
  if (!isObject(info)) return { kind: 'unrecognised', reason: 'no KafkaBatchInfo.recordsInfo' };
  const ranges: FailedRange[] = [];
  for (const [key, value] of Object.entries(info)) {
    const cut = key.lastIndexOf('-');
    const partition = Number(key.slice(cut + 1));
    const first = isObject(value) ? Number(value.firstRecordOffset) : Number.NaN;
    const last = isObject(value) ? Number(value.lastRecordOffset) : Number.NaN;
    if (cut <= 0 || ![partition, first, last].every(Number.isSafeInteger) || last < first) {
      return { kind: 'unrecognised', reason: `malformed recordsInfo entry ${key}` };
    }
    ranges.push({ topic: key.slice(0, cut), partition, fromOffset: first, toOffset: last });
  }
  return ranges.length > 0 ? { kind: 'failed-batch', ranges } : { kind: 'unrecognised', reason: 'no ranges' };
}

export interface RedriveTarget extends Pick<ReplayTarget, 'reader' | 'writer' | 'targetTopic'> {
  /** Topics whose ranges may be redriven (the mappings' topics); ranges of others are reported, not copied. */
  readonly topics: readonly string[];
  readonly policy?: EventLogPolicy;
}

export interface RedriveReport {
  readonly messages: number;
  readonly failedBatches: number;
  readonly deadLetters: number;
  readonly unrecognised: number;
  /** The ranges copied to the retry topic, merged per topic and partition. */
  readonly ranges: readonly FailedRange[];
  readonly replayed: number;
  /** Ranges of topics that are not the mappings' (left alone). */
  readonly foreign: readonly FailedRange[];
}

/** Messages taken from the destination per round. */
export const REDRIVE_BATCH = 10;

/**
 * Copies the record ranges of every failed batch in the destination to the retry topic (the consumer's
 * second mapping applies them; effects are exactly once, so a range copied twice is harmless), then
 * acknowledges those messages. Dead letters are left where they are, for operators. Stops when the source
 * has nothing more to hand over.
 *
 * @throws {EventLogUnavailableError} or {EventLogRequestError} when the log fails; messages of the round
 *   are then left unacknowledged and are redriven by the next run.
 */
export async function redriveFailures(source: RedriveSource, target: RedriveTarget): Promise<RedriveReport> {
  let messages = 0;
  let failedBatches = 0;
  let deadLetters = 0;
  let unrecognised = 0;
  let replayed = 0;
  const copied: FailedRange[] = [];
  const foreign: FailedRange[] = [];
  for (;;) {
    const round = await source.receive(REDRIVE_BATCH);
    const batches = round.flatMap((message) => {
      const classified = classifyFailureMessage(message.body);
      if (classified.kind === 'dead-letter') deadLetters += 1;
      if (classified.kind === 'unrecognised') unrecognised += 1;
      return classified.kind === 'failed-batch' ? [{ message, ranges: classified.ranges }] : [];
    });
    if (round.length === 0) break;
    messages += round.length;
    failedBatches += batches.length;
    const ranges = batches.flatMap((batch) => batch.ranges);
    for (const topic of new Set(ranges.map((range) => range.topic))) {
      const mine = ranges.filter((range) => range.topic === topic);
      if (!target.topics.includes(topic)) {
        foreign.push(...mine);
        continue;
      }
      const summary = await replayRanges(
        { ...target, topic, ...(target.policy === undefined ? {} : { policy: target.policy }) },
        mine,
      );
      replayed += summary.replayed;
      copied.push(...summary.ranges.map((range) => ({ topic, ...range })));
    }
    await source.acknowledge(batches.map((batch) => batch.message.receipt));
  }
  const merged = [...new Set(copied.map((range) => range.topic))].flatMap((topic) =>
    mergeRanges(copied.filter((range) => range.topic === topic)).map((range) => ({ topic, ...range })),
  );
  return { messages, failedBatches, deadLetters, unrecognised, ranges: merged, replayed, foreign };
}
