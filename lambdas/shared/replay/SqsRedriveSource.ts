import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { RedriveAcknowledgeError } from './errors.js';
import type { RedriveMessage, RedriveSource } from './redrive.js';

/** How long a received message stays hidden from other readers while the redrive copies its ranges. */
const VISIBILITY_SECONDS = 300;
/** Long polling: an empty answer then means the queue has nothing visible. */
const WAIT_SECONDS = 2;

/**
 * The consumer's on-failure SQS queue as a redrive source. Received messages stay hidden for the rest of
 * the run (visibility timeout), so dead letters, which the redrive leaves alone, are not received twice in
 * one run and reappear afterwards; redriven failed batches are deleted.
 */
export class SqsRedriveSource implements RedriveSource {
  public constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  public async receive(max: number): Promise<readonly RedriveMessage[]> {
    const answer = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: Math.min(10, max),
        VisibilityTimeout: VISIBILITY_SECONDS,
        WaitTimeSeconds: WAIT_SECONDS,
      }),
    );
    return (answer.Messages ?? []).flatMap((m) =>
      m.ReceiptHandle === undefined ? [] : [{ receipt: m.ReceiptHandle, body: m.Body ?? '' }],
    );
  }

  /** @throws {RedriveAcknowledgeError} naming the messages SQS did not delete (redriven again next run). */
  public async acknowledge(receipts: readonly string[]): Promise<void> {
    if (receipts.length === 0) return;
    const answer = await this.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.queueUrl,
        Entries: receipts.map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle })),
      }),
    );
    if ((answer.Failed ?? []).length > 0) {
      throw new RedriveAcknowledgeError(
        `SQS did not delete ${answer.Failed?.length} redriven message(s): ${answer.Failed?.map((f) => f.Message).join('; ')}`,
      );
    }
  }
}
