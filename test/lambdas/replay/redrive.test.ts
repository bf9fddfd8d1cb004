import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedriveAcknowledgeError } from '../../../lambdas/shared/replay/errors.js';
import { LocalEventLog } from '../../../lambdas/shared/replay/LocalEventLog.js';
import { classifyFailureMessage, redriveFailures } from '../../../lambdas/shared/replay/redrive.js';
import { SqsRedriveSource } from '../../../lambdas/shared/replay/SqsRedriveSource.js';
import { LOCAL_DLQ_TOPIC, LOCAL_RETRY_TOPIC, LOCAL_TOPIC } from '../../../local/consumer/LocalConsumer.js';
import { LocalLog } from '../../../local/log/index.js';
import { StreamRedriveSource } from '../../../local/redrive/StreamRedriveSource.js';
import { LocalLogStream } from '../../../local/stream/index.js';

const failedBatch = (topic: string, partition: number, first: number, last: number) =>
  JSON.stringify({
    requestContext: { condition: 'RetryAttemptsExhausted' },
    KafkaBatchInfo: {
      batchSize: last - first + 1,
      recordsInfo: {
        [`${topic}-${partition}`]: {
          firstRecordOffset: String(first),
          firstRecordTimestamp: '2026-01-01T00:00:00.000Z',
          lastRecordOffset: String(last),
          lastRecordTimestamp: '2026-01-01T00:00:00.000Z',
        },
      },
    },
  });
const deadLetter = JSON.stringify({
  kind: 'poison-record',
  reason: 'bad-json',
  record: { partition: 0, offset: 1 },
});

describe('classifyFailureMessage', () => {
  it("reads the ranges of Lambda's Kafka invocation record, topic names with dashes included", () => {
    expect(classifyFailureMessage(failedBatch('customer-events.v1', 7, 10, 19))).toEqual({
      kind: 'failed-batch',
      ranges: [{ topic: 'customer-events.v1', partition: 7, fromOffset: 10, toOffset: 19 }],
    });
  });

  it('tells dead letters and anything else apart', () => {
    expect(classifyFailureMessage(deadLetter)).toEqual({ kind: 'dead-letter' });
    expect(classifyFailureMessage('not json').kind).toBe('unrecognised');
    expect(classifyFailureMessage('{"KafkaBatchInfo":{"recordsInfo":{"t-x":{}}}}').kind).toBe('unrecognised');
  });
});

describe('redriveFailures on the local log', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdp-redrive-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('copies the failed ranges once to the retry topic, leaves dead letters, and redrives only what is new next time', async () => {
    // Prepare: 20 records on partition 0, 10 on partition 1; two failed batches and a dead letter.
    const log = await LocalLog.open(join(dir, 'once'), { fsync: false });
    const stream = new LocalLogStream(log);
    await log.createTopic(LOCAL_TOPIC, 2);
    await log.createTopic(LOCAL_RETRY_TOPIC, 2);
    await log.createTopic(LOCAL_DLQ_TOPIC, 1);
    for (const [partition, count] of [
      [0, 20],
      [1, 10],
    ] as const) {
      await log.append(
        LOCAL_TOPIC,
        Array.from({ length: count }, (_, i) => ({
          key: `k${partition}`,
          value: `p${partition}-o${i}`,
          partition,
        })),
      );
    }
    await log.append(LOCAL_DLQ_TOPIC, [
      { key: 'a', value: failedBatch(LOCAL_TOPIC, 0, 5, 9) },
      { key: 'b', value: deadLetter },
      { key: 'c', value: failedBatch(LOCAL_TOPIC, 1, 2, 3) },
    ]);
    const eventLog = new LocalEventLog(log);
    const target = {
      reader: eventLog,
      writer: eventLog,
      targetTopic: LOCAL_RETRY_TOPIC,
      topics: [LOCAL_TOPIC],
    };
    const retryValues = async () => {
      const values: string[] = [];
      for (const p of [0, 1]) {
        const end = await log.endOffset(LOCAL_RETRY_TOPIC, p);
        if (end > 0)
          values.push(
            ...(await log.read(LOCAL_RETRY_TOPIC, p, 0, end)).map((r) => r.value?.toString() ?? ''),
          );
      }
      return values.sort();
    };

    // Act
    const first = await redriveFailures(new StreamRedriveSource(stream, LOCAL_DLQ_TOPIC), target);
    const second = await redriveFailures(new StreamRedriveSource(stream, LOCAL_DLQ_TOPIC), target);
    await log.append(LOCAL_DLQ_TOPIC, [{ key: 'd', value: failedBatch(LOCAL_TOPIC, 0, 15, 15) }]);
    const third = await redriveFailures(new StreamRedriveSource(stream, LOCAL_DLQ_TOPIC), target);

    // Assess
    expect(first).toMatchObject({
      messages: 3,
      failedBatches: 2,
      deadLetters: 1,
      unrecognised: 0,
      replayed: 7,
    });
    expect(first.ranges).toEqual([
      { topic: LOCAL_TOPIC, partition: 0, fromOffset: 5, toOffset: 9 },
      { topic: LOCAL_TOPIC, partition: 1, fromOffset: 2, toOffset: 3 },
    ]);
    expect(second).toMatchObject({ messages: 0, replayed: 0 });
    expect(third).toMatchObject({ messages: 1, failedBatches: 1, replayed: 1 });
    expect(await retryValues()).toEqual(
      ['p0-o5', 'p0-o6', 'p0-o7', 'p0-o8', 'p0-o9', 'p1-o2', 'p1-o3', 'p0-o15'].sort(),
    );
  });

  it('reports ranges of topics that are not the consumer topics instead of copying them', async () => {
    const log = await LocalLog.open(join(dir, 'foreign'), { fsync: false });
    const stream = new LocalLogStream(log);
    await log.createTopic(LOCAL_DLQ_TOPIC, 1);
    await log.append(LOCAL_DLQ_TOPIC, [{ key: 'a', value: failedBatch('someone-else', 0, 0, 4) }]);
    const eventLog = new LocalEventLog(log);
    const report = await redriveFailures(new StreamRedriveSource(stream, LOCAL_DLQ_TOPIC), {
      reader: eventLog,
      writer: eventLog,
      targetTopic: LOCAL_RETRY_TOPIC,
      topics: [LOCAL_TOPIC],
    });
    expect(report).toMatchObject({
      replayed: 0,
      foreign: [{ topic: 'someone-else', partition: 0, fromOffset: 0, toOffset: 4 }],
    });
  });
});

describe('SqsRedriveSource (aws-sdk-client-mock)', () => {
  const sqs = mockClient(SQSClient);
  afterEach(() => sqs.reset());

  it('receives with long polling and a visibility timeout, and deletes what it is told to', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [{ ReceiptHandle: 'r1', Body: 'x' }] });
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: '0' }] });
    const source = new SqsRedriveSource(new SQSClient({}), 'https://sqs.eu-west-1.amazonaws.com/1/q');
    expect(await source.receive(25)).toEqual([{ receipt: 'r1', body: 'x' }]);
    await source.acknowledge(['r1']);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toMatchObject({
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 300,
      WaitTimeSeconds: 2,
    });
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]?.args[0].input.Entries).toEqual([
      { Id: '0', ReceiptHandle: 'r1' },
    ]);
  });

  it('says so when SQS keeps messages it should have deleted', async () => {
    sqs
      .on(DeleteMessageBatchCommand)
      .resolves({ Failed: [{ Id: '0', Code: 'x', Message: 'expired receipt', SenderFault: true }] });
    const source = new SqsRedriveSource(new SQSClient({}), 'https://sqs.eu-west-1.amazonaws.com/1/q');
    await expect(source.acknowledge(['r1'])).rejects.toBeInstanceOf(RedriveAcknowledgeError);
  });
});
