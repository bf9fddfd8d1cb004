import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Envelope } from '../events/index.js';
import { INGEST_POLICY_DEFAULTS } from './ingestPolicies.js';
import { BackpressureError, type SpilloverBuffer } from './publisher.js';

/** SQS takes at most 10 entries per batch call, and at most this many bytes of bodies per send batch. */
const SQS_BATCH_ENTRIES = 10;
const SQS_BATCH_BYTES = 256 * 1024;

export interface SqsSpilloverBufferOptions {
  readonly sqs: SQSClient;
  /** An encrypted FIFO queue (`.fifo`), without content-based deduplication (eventId is the dedupe id). */
  readonly queueUrl: string;
  /** Most events the queue may hold; spills beyond it are refused with BackpressureError. */
  readonly bound?: number;
  readonly retryAfterSeconds?: number;
  /**
   * How long peeked messages stay hidden from other drainers. Must exceed the drainer's republish of a
   * chunk; past it an unacknowledged message is delivered again (and republished: at-least-once).
   */
  readonly visibilityTimeoutSeconds?: number;
}

/** SQS did not store or delete some entries of a batch; `retriable` unless SQS blamed the request. */
export class SqsSpilloverError extends Error {
  public override readonly name = 'SqsSpilloverError';

  public constructor(
    message: string,
    public readonly retriable: boolean,
    public readonly context: {
      readonly queueUrl: string;
      readonly operation: string;
      readonly codes: string[];
    },
  ) {
    super(message);
  }
}

/**
 * The spillover in AWS: an encrypted SQS FIFO queue. MessageGroupId = customerId keeps each customer's
 * events in spill order (a group with messages in flight delivers no more until they are deleted), and
 * MessageDeduplicationId = eventId makes a repeated spill of the same event a no-op for five minutes.
 *
 * The depth is SQS's approximate count (visible + in flight + delayed), so the bound is approximate too:
 * concurrent spills from several functions may pass it by about one request each. A FIFO queue orders
 * per group, not globally: `peek` returns the oldest events of each customer, which is the order that
 * matters.
 */
export class SqsSpilloverBuffer implements SpilloverBuffer {
  private readonly bound: number;
  private readonly retryAfterSeconds: number;
  private readonly visibilityTimeoutSeconds: number;

  public constructor(private readonly options: SqsSpilloverBufferOptions) {
    this.bound = options.bound ?? INGEST_POLICY_DEFAULTS.spillMaxEvents;
    this.retryAfterSeconds = options.retryAfterSeconds ?? INGEST_POLICY_DEFAULTS.spillRetryAfterSeconds;
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? 30;
  }

  public async depth(): Promise<number> {
    const result = await this.options.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.options.queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const attributes = result.Attributes ?? {};
    return (
      Number(attributes.ApproximateNumberOfMessages ?? 0) +
      Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  }

  /**
   * Sends the envelopes in order, in batches of up to 10.
   * @throws {BackpressureError} when they would take the queue past its bound; nothing is sent then.
   * @throws {SqsSpilloverError} when SQS refused entries; earlier batches may be stored (a repeated spill
   * is deduplicated by eventId).
   */
  public async spill(envelopes: readonly Envelope[]): Promise<void> {
    if (envelopes.length === 0) return;
    const depth = await this.depth();
    if (depth + envelopes.length > this.bound) {
      throw new BackpressureError(this.retryAfterSeconds, depth, this.bound);
    }
    for (const batch of sendBatches(envelopes)) {
      const result = await this.options.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: batch.map(({ envelope, body }, i) => ({
            Id: String(i),
            MessageBody: body,
            MessageGroupId: envelope.customerId,
            MessageDeduplicationId: envelope.eventId,
          })),
        }),
      );
      const failed = result.Failed ?? [];
      if (failed.length > 0) {
        throw new SqsSpilloverError(
          `SQS refused ${failed.length} of ${batch.length} spilled events`,
          failed.every((f) => f.SenderFault !== true),
          {
            queueUrl: this.options.queueUrl,
            operation: 'SendMessageBatch',
            codes: failed.map((f) => f.Code ?? 'Unknown'),
          },
        );
      }
    }
  }

  /**
   * Receives up to `max` of the oldest messages (per customer), hiding them for the visibility timeout.
   * @throws {SyntaxError} when a message is not a spilled envelope (only this buffer writes the queue).
   */
  public async peek(max: number): Promise<Array<{ receipt: string; envelope: Envelope }>> {
    const peeked: Array<{ receipt: string; envelope: Envelope }> = [];
    while (peeked.length < max) {
      const result = await this.options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.options.queueUrl,
          MaxNumberOfMessages: Math.min(SQS_BATCH_ENTRIES, max - peeked.length),
          VisibilityTimeout: this.visibilityTimeoutSeconds,
          WaitTimeSeconds: 0,
        }),
      );
      const messages = result.Messages ?? [];
      for (const message of messages) {
        if (message.ReceiptHandle === undefined || message.Body === undefined) continue;
        peeked.push({ receipt: message.ReceiptHandle, envelope: JSON.parse(message.Body) as Envelope });
      }
      if (messages.length < SQS_BATCH_ENTRIES) break;
    }
    return peeked;
  }

  /**
   * Deletes republished messages, in batches of up to 10.
   * @throws {SqsSpilloverError} when SQS kept some (expired receipts): they are delivered again later.
   */
  public async acknowledge(receipts: readonly string[]): Promise<void> {
    for (let i = 0; i < receipts.length; i += SQS_BATCH_ENTRIES) {
      const chunk = receipts.slice(i, i + SQS_BATCH_ENTRIES);
      const result = await this.options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: chunk.map((receipt, j) => ({ Id: String(j), ReceiptHandle: receipt })),
        }),
      );
      const failed = result.Failed ?? [];
      if (failed.length > 0) {
        throw new SqsSpilloverError(`SQS kept ${failed.length} of ${chunk.length} drained events`, true, {
          queueUrl: this.options.queueUrl,
          operation: 'DeleteMessageBatch',
          codes: failed.map((f) => f.Code ?? 'Unknown'),
        });
      }
    }
  }
}

/** Consecutive envelopes grouped under SQS's batch limits (entries and bytes), in order. */
function sendBatches(envelopes: readonly Envelope[]): Array<Array<{ envelope: Envelope; body: string }>> {
  const batches: Array<Array<{ envelope: Envelope; body: string }>> = [];
  let current: Array<{ envelope: Envelope; body: string }> = [];
  let bytes = 0;
  for (const envelope of envelopes) {
    const body = JSON.stringify(envelope);
    const size = Buffer.byteLength(body, 'utf8');
    if (current.length === SQS_BATCH_ENTRIES || (current.length > 0 && bytes + size > SQS_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push({ envelope, body });
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
