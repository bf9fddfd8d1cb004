import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { BackpressureError } from '../../../lambdas/shared/ingest/publisher.js';
import { SqsSpilloverBuffer, SqsSpilloverError } from '../../../lambdas/shared/ingest/SqsSpilloverBuffer.js';
import { envelope } from '../../support/events.js';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111111111111/cdp-dev-ingest-spillover.fifo';
const DEPTH_INPUT = {
  QueueUrl: QUEUE_URL,
  AttributeNames: [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed',
  ],
};

const sqs = mockClient(SQSClient);

const buffer = (bound = 1_000) =>
  new SqsSpilloverBuffer({
    sqs: new SQSClient({ region: 'eu-west-1' }),
    queueUrl: QUEUE_URL,
    bound,
    retryAfterSeconds: 7,
    visibilityTimeoutSeconds: 45,
  });

const depthOf = (visible: number, inFlight: number, delayed: number) => ({
  Attributes: {
    ApproximateNumberOfMessages: String(visible),
    ApproximateNumberOfMessagesNotVisible: String(inFlight),
    ApproximateNumberOfMessagesDelayed: String(delayed),
  },
});

const changes = (customerId: string, count: number) =>
  Array.from({ length: count }, (_, i) =>
    envelope('customer.email-changed', customerId, i, { email: `${customerId}.${i}@example.com` }),
  );

beforeEach(() => {
  sqs.reset();
});

describe('SqsSpilloverBuffer', () => {
  it('counts visible, in-flight and delayed messages as the depth', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(depthOf(12, 3, 1));

    // Act
    const depth = await buffer().depth();

    // Assess
    expect(depth).toBe(16);
    expect(sqs.commandCalls(GetQueueAttributesCommand)[0]?.args[0].input).toEqual(DEPTH_INPUT);
  });

  it('spills in order, ten per batch, grouped by customer and deduplicated by event id', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(depthOf(0, 0, 0));
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const events = [...changes('alice', 7), ...changes('bob', 5)];

    // Act
    await buffer().spill(events);

    // Assess
    const sends = sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);
    expect(sends).toEqual([
      {
        QueueUrl: QUEUE_URL,
        Entries: events.slice(0, 10).map((e, i) => ({
          Id: String(i),
          MessageBody: JSON.stringify(e),
          MessageGroupId: e.customerId,
          MessageDeduplicationId: e.eventId,
        })),
      },
      {
        QueueUrl: QUEUE_URL,
        Entries: events.slice(10).map((e, i) => ({
          Id: String(i),
          MessageBody: JSON.stringify(e),
          MessageGroupId: e.customerId,
          MessageDeduplicationId: e.eventId,
        })),
      },
    ]);
  });

  it('keeps a send batch under 256 KiB of bodies', async () => {
    // Prepare: 60 KiB events, so four fit in one batch.
    sqs.on(GetQueueAttributesCommand).resolves(depthOf(0, 0, 0));
    sqs.on(SendMessageBatchCommand).resolves({});
    const large = Array.from({ length: 6 }, (_, i) =>
      envelope('customer.profile-changed', 'alice', i, { givenName: 'x'.repeat(60 * 1024) }),
    );

    // Act
    await buffer().spill(large);

    // Assess
    const sizes = sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries?.length);
    expect(sizes).toEqual([4, 2]);
  });

  it('refuses a spill past the bound with BackpressureError and sends nothing', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(depthOf(95, 3, 0));

    // Act
    const error = await buffer(100)
      .spill(changes('alice', 3))
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(BackpressureError);
    expect(error).toMatchObject({ retryAfterSeconds: 7, depth: 98, bound: 100 });
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('fails a spill that SQS partly refused, retriable unless SQS blamed the request', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(depthOf(0, 0, 0));
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false }] })
      .resolvesOnce({ Failed: [{ Id: '0', Code: 'InvalidParameterValue', SenderFault: true }] });

    // Act
    const transient = await buffer()
      .spill(changes('alice', 2))
      .catch((e: unknown) => e);
    const permanent = await buffer()
      .spill(changes('bob', 1))
      .catch((e: unknown) => e);

    // Assess
    expect(transient).toBeInstanceOf(SqsSpilloverError);
    expect(transient).toMatchObject({ retriable: true, context: { codes: ['InternalError'] } });
    expect(permanent).toMatchObject({ retriable: false, context: { operation: 'SendMessageBatch' } });
  });

  it('peeks by receiving with the visibility timeout until it has enough or the queue runs dry', async () => {
    // Prepare
    const events = changes('alice', 14);
    const message = (i: number) => ({ ReceiptHandle: `rh-${i}`, Body: JSON.stringify(events[i]) });
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: Array.from({ length: 10 }, (_, i) => message(i)) })
      .resolvesOnce({ Messages: [10, 11, 12, 13].map(message) });

    // Act
    const peeked = await buffer().peek(20);

    // Assess
    expect(peeked).toEqual(events.map((e, i) => ({ receipt: `rh-${i}`, envelope: e })));
    expect(sqs.commandCalls(ReceiveMessageCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL, MaxNumberOfMessages: 10, VisibilityTimeout: 45, WaitTimeSeconds: 0 },
      { QueueUrl: QUEUE_URL, MaxNumberOfMessages: 10, VisibilityTimeout: 45, WaitTimeSeconds: 0 },
    ]);
  });

  it('asks for no more messages than the peek wants', async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});

    // Act
    const peeked = await buffer().peek(3);

    // Assess
    expect(peeked).toEqual([]);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toMatchObject({
      MaxNumberOfMessages: 3,
    });
  });

  it('acknowledges by deleting the receipts ten per batch', async () => {
    // Prepare
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const receipts = Array.from({ length: 12 }, (_, i) => `rh-${i}`);

    // Act
    await buffer().acknowledge(receipts);

    // Assess
    expect(sqs.commandCalls(DeleteMessageBatchCommand).map((call) => call.args[0].input)).toEqual([
      {
        QueueUrl: QUEUE_URL,
        Entries: receipts.slice(0, 10).map((r, i) => ({ Id: String(i), ReceiptHandle: r })),
      },
      {
        QueueUrl: QUEUE_URL,
        Entries: receipts.slice(10).map((r, i) => ({ Id: String(i), ReceiptHandle: r })),
      },
    ]);
  });

  it('fails an acknowledgement SQS did not apply, so the drainer retries it', async () => {
    // Prepare
    sqs
      .on(DeleteMessageBatchCommand)
      .resolves({ Failed: [{ Id: '0', Code: 'ReceiptHandleIsInvalid', SenderFault: true }] });

    // Act
    const error = await buffer()
      .acknowledge(['rh-expired'])
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(SqsSpilloverError);
    expect(error).toMatchObject({
      retriable: true,
      context: { operation: 'DeleteMessageBatch', codes: ['ReceiptHandleIsInvalid'] },
    });
  });
});
