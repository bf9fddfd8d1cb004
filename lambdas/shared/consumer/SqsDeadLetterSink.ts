import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetter, DeadLetterSink } from './deadLetters.js';
import { DeadLettersRefusedError } from './errors.js';

/** SQS takes at most 10 messages per batch call. */
const SQS_BATCH = 10;

/** Dead letters into the consumer's encrypted SQS on-failure queue (the same queue the ESM uses). */
export class SqsDeadLetterSink implements DeadLetterSink {
  public constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  /** @throws {DeadLettersRefusedError} when SQS rejects any message; none are reported as sent then. */
  public async send(letters: readonly DeadLetter[]): Promise<void> {
    for (let i = 0; i < letters.length; i += SQS_BATCH) {
      const chunk = letters.slice(i, i + SQS_BATCH);
      const result = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((letter, j) => ({
            Id: String(j),
            MessageBody: JSON.stringify({ kind: 'poison-record', ...letter }),
            MessageAttributes: { reason: { DataType: 'String', StringValue: letter.reason } },
          })),
        }),
      );
      const failed = result.Failed ?? [];
      if (failed.length > 0) {
        throw new DeadLettersRefusedError(failed.map((f) => f.Code ?? ''));
      }
    }
  }
}
