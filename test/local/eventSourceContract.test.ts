import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, MSKEvent, MSKRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batchResponseFor, recordsOf } from '../../lambdas/shared/consumer/batchResponse.js';
import {
  type EventSourceOptions,
  type EventSourceStats,
  InvalidEventSourceOptionsError,
  type KafkaFailureRecord,
} from '../../local/esm/index.js';
import { type EventSourceBackend, kafkaBackend, localLogBackend } from '../support/eventSources.js';
import { kafkaReady } from '../support/kafka.js';

const CONSUME_IN_CHILD = fileURLToPath(new URL('./fixtures/consumeInChild.ts', import.meta.url));

/**
 * The contract of a Lambda event source mapping for MSK, run against both backends of the local platform:
 * the durable local log with its emulator, and a real Kafka cluster read by a kafkajs consumer group.
 */
const backends: ReadonlyArray<{ readonly backend: EventSourceBackend; readonly ready: boolean }> = [
  { backend: localLogBackend(), ready: true },
  { backend: kafkaBackend(), ready: kafkaReady },
];

/** Delivered batches, as the handler saw them. */
interface Delivery {
  readonly event: MSKEvent;
  readonly context: Context;
  readonly records: MSKRecord[];
  readonly offsets: number[];
  readonly at: number;
}

type Behaviour = (delivery: Delivery, call: number) => Promise<unknown> | unknown;

function recordingHandler(behaviour: Behaviour = () => undefined) {
  const deliveries: Delivery[] = [];
  const handler = async (event: MSKEvent, context: Context) => {
    const records = recordsOf(event);
    const delivery = { event, context, records, offsets: records.map((r) => r.offset), at: Date.now() };
    deliveries.push(delivery);
    return behaviour(delivery, deliveries.length);
  };
  return { deliveries, handler };
}

let backend: EventSourceBackend;
let TOPIC = '';
let DLQ = '';
let GROUP = '';
let testNumber = 0;
let scratch = '';
let child: ChildProcess | undefined;

function emulator(handler: EventSourceOptions['handler'], options: Partial<EventSourceOptions> = {}) {
  return backend.eventSource({
    topic: TOPIC,
    group: GROUP,
    handler,
    batchWindowMillis: 0,
    pollIntervalMillis: 5,
    retryBackoff: { initialMillis: 1, maxMillis: 5 },
    ...options,
  });
}

async function produce(count: number, partition = 0, timestamp?: number): Promise<void> {
  await backend.append(
    TOPIC,
    Array.from({ length: count }, (_, i) => ({
      key: `customer-${i}`,
      value: `event-${i}`,
      partition,
      ...(timestamp === undefined ? {} : { timestamp }),
    })),
  );
}

async function destinationRecords(): Promise<KafkaFailureRecord[]> {
  const records = await backend.readAll(DLQ, 0);
  return records.map((r) => JSON.parse(r.value?.toString('utf8') ?? 'null'));
}

const decode = (base64: string | undefined) =>
  base64 === undefined ? undefined : Buffer.from(base64, 'base64').toString();
const delay = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

for (const { backend: candidate, ready } of backends) {
  describe.skipIf(!ready)(`event source mapping on the ${candidate.name}`, () => {
    beforeAll(async () => {
      backend = candidate;
      await backend.setup();
      scratch = await mkdtemp(join(tmpdir(), 'esm-contract-'));
    });

    afterAll(async () => {
      await backend.teardown();
      await rm(scratch, { recursive: true, force: true });
    });

    beforeEach(() => {
      backend = candidate;
      testNumber += 1;
      TOPIC = `customer-events-${testNumber}`;
      DLQ = `${TOPIC}-dlq`;
      GROUP = `customer-consumer-${testNumber}`;
    });

    afterEach(() => {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child = undefined;
    });

    describe('delivery', () => {
      it('delivers every record exactly once, in offset order per partition, to a succeeding handler', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 3);
        await backend.append(
          TOPIC,
          Array.from({ length: 300 }, (_, i) => ({ key: `customer-${i % 17}`, value: `event-${i}` })),
        );
        const { deliveries, handler } = recordingHandler();
        const esm = emulator(handler, { batchSize: 25 });

        // Act
        await esm.drain({ timeoutMillis: 10_000 });

        // Assess
        const perPartition = new Map<number, number[]>();
        for (const delivery of deliveries) {
          for (const record of delivery.records)
            perPartition.set(record.partition, [
              ...(perPartition.get(record.partition) ?? []),
              record.offset,
            ]);
        }
        for (const partition of [0, 1, 2]) {
          const end = await backend.endOffset(TOPIC, partition);
          expect(perPartition.get(partition) ?? []).toEqual(range(0, end));
          expect(await backend.committed(GROUP, TOPIC, partition)).toBe(end);
        }
        expect(
          deliveries.every((d) => Object.keys(d.event.records).length === 1 && d.records.length <= 25),
        ).toBe(true);
        expect(esm.stats()).toMatchObject({
          recordsDelivered: 300,
          recordsCommitted: 300,
          functionErrors: 0,
          lag: { 0: 0, 1: 0, 2: 0 },
        });
      });

      it('fills batches up to the batch size', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(25);
        const { deliveries, handler } = recordingHandler();

        // Act
        await emulator(handler, { batchSize: 10 }).drain({ timeoutMillis: 5_000 });

        // Assess
        expect(deliveries.map((d) => d.offsets)).toEqual([range(0, 10), range(10, 20), range(20, 25)]);
      });

      it('waits up to the batching window to gather a batch smaller than the batch size', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        const { deliveries, handler } = recordingHandler();
        const esm = emulator(handler, { batchSize: 100, batchWindowMillis: 600 });
        await esm.start();

        // Act
        const firstAppend = Date.now();
        await produce(3);
        await delay(50);
        await produce(2);
        await esm.drain({ timeoutMillis: 5_000 });
        await esm.stop();

        // Assess
        expect(deliveries.map((d) => d.offsets)).toEqual([range(0, 5)]);
        expect((deliveries[0]?.at ?? 0) - firstAppend).toBeGreaterThanOrEqual(550);
      });

      it('sends the exact MSK event and a Lambda context to the handler', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 2);
        await backend.append(TOPIC, [
          {
            key: 'customer-1',
            value: '{"type":"customer.registered"}',
            headers: { traceparent: 'ab', raw: Buffer.from([0, 255]) },
            timestamp: 1_767_225_600_000,
            partition: 1,
          },
          { key: null, value: 'keyless', timestamp: 1_767_225_600_001, partition: 1 },
        ]);
        const { deliveries, handler } = recordingHandler();

        // Act
        await emulator(handler, { functionTimeoutMillis: 5_000, functionName: 'customer-consumer' }).drain({
          timeoutMillis: 5_000,
        });

        // Assess
        const [delivery] = deliveries;
        expect(delivery?.event).toStrictEqual({
          eventSource: 'aws:kafka',
          eventSourceArn: backend.source.eventSourceArn,
          bootstrapServers: backend.source.bootstrapServers,
          records: {
            [`${TOPIC}-1`]: [
              {
                topic: TOPIC,
                partition: 1,
                offset: 0,
                timestamp: 1_767_225_600_000,
                timestampType: 'CREATE_TIME',
                key: Buffer.from('customer-1').toString('base64'),
                value: Buffer.from('{"type":"customer.registered"}').toString('base64'),
                headers: [{ traceparent: [97, 98] }, { raw: [0, 255] }],
              },
              {
                topic: TOPIC,
                partition: 1,
                offset: 1,
                timestamp: 1_767_225_600_001,
                timestampType: 'CREATE_TIME',
                value: Buffer.from('keyless').toString('base64'),
                headers: [],
              },
            ],
          },
        });
        expect(delivery?.context).toMatchObject({
          functionName: 'customer-consumer',
          functionVersion: '$LATEST',
          invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:customer-consumer',
          awsRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        });
        const remaining = delivery?.context.getRemainingTimeInMillis() ?? 0;
        expect(remaining).toBeGreaterThan(4_000);
        expect(remaining).toBeLessThanOrEqual(5_000);
      });

      it('never has two batches of one partition in flight and caps the partitions processed at once', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 4);
        for (const partition of [0, 1, 2, 3]) await produce(20, partition);
        const inFlight = new Map<number, number>();
        let concurrent = 0;
        let maxConcurrent = 0;
        let maxPerPartition = 0;
        const { handler } = recordingHandler(async (delivery) => {
          const partition = delivery.records[0]?.partition ?? -1;
          inFlight.set(partition, (inFlight.get(partition) ?? 0) + 1);
          concurrent += 1;
          maxConcurrent = Math.max(maxConcurrent, concurrent);
          maxPerPartition = Math.max(maxPerPartition, inFlight.get(partition) ?? 0);
          await delay(5);
          concurrent -= 1;
          inFlight.set(partition, (inFlight.get(partition) ?? 0) - 1);
        });

        // Act
        await emulator(handler, { batchSize: 5, concurrency: 2 }).drain({ timeoutMillis: 5_000 });

        // Assess
        expect(maxPerPartition).toBe(1);
        expect(maxConcurrent).toBe(2);
      });

      it('reports progress through the callback', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(10);
        const reports: EventSourceStats[] = [];
        const { handler } = recordingHandler();

        // Act
        await emulator(handler, {
          batchSize: 5,
          onProgress: (s) => reports.push(s),
          progressIntervalMillis: 0,
        }).drain();

        // Assess
        expect(reports.length).toBeGreaterThan(1);
        expect(reports.at(-1)).toMatchObject({ invocations: 2, recordsCommitted: 10, lag: { 0: 0 } });
      });
    });

    describe('failure handling', () => {
      it('resumes from the lowest failed offset of a partial batch response', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(10);
        const { deliveries, handler } = recordingHandler((delivery, call) =>
          call === 1
            ? batchResponseFor(delivery.records.filter((r) => r.offset === 6 || r.offset === 4))
            : undefined,
        );

        // Act
        const esm = emulator(handler, { reportBatchItemFailures: true });
        await esm.drain({ timeoutMillis: 5_000 });

        // Assess
        expect(deliveries.map((d) => d.offsets)).toEqual([range(0, 10), range(4, 10)]);
        expect(await backend.committed(GROUP, TOPIC, 0)).toBe(10);
        expect(esm.stats()).toMatchObject({ partialFailures: 1, retries: 1, functionErrors: 0 });
      });

      it('treats a partial response naming another partition as a failure of the whole batch', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(5);
        const { deliveries, handler } = recordingHandler((_, call) =>
          call === 1
            ? { batchItemFailures: [{ itemIdentifier: { partition: 'other-topic-0', offset: 3 } }] }
            : {},
        );

        // Act
        const esm = emulator(handler, { reportBatchItemFailures: true });
        await esm.drain({ timeoutMillis: 5_000 });

        // Assess
        expect(deliveries.map((d) => d.offsets)).toEqual([range(0, 5), range(0, 5)]);
        expect(esm.stats()).toMatchObject({ functionErrors: 1, partialFailures: 0 });
      });

      it('retries a failing batch, then writes it to the destination and commits past it', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(3, 0, 1_767_225_600_000);
        const { deliveries, handler } = recordingHandler((delivery) => {
          if (delivery.offsets.includes(1)) throw new Error('database unavailable');
        });
        const esm = emulator(handler, {
          retryAttempts: 2,
          onFailure: { topic: DLQ },
          functionName: 'consumer',
        });

        // Act
        await esm.drain({ timeoutMillis: 5_000 });
        await produce(2);
        await esm.drain({ timeoutMillis: 5_000 });

        // Assess
        expect(deliveries.map((d) => d.offsets)).toEqual([
          range(0, 3),
          range(0, 3),
          range(0, 3),
          range(3, 5),
        ]);
        expect(await backend.committed(GROUP, TOPIC, 0)).toBe(5);
        const [failure, ...others] = await destinationRecords();
        expect(others).toEqual([]);
        expect(failure).toMatchObject({
          requestContext: {
            requestId: deliveries[2]?.context.awsRequestId,
            functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:consumer',
            condition: 'RetryAttemptsExhausted',
            approximateInvokeCount: 3,
          },
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          version: '1.0',
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          KafkaBatchInfo: {
            batchSize: 3,
            eventSourceArn: backend.source.eventSourceArn,
            bootstrapServers: backend.source.bootstrapServers,
            payloadSize: expect.any(Number),
            recordsInfo: {
              [`${TOPIC}-0`]: {
                firstRecordOffset: '0',
                firstRecordTimestamp: '2026-01-01T00:00:00.000Z',
                lastRecordOffset: '2',
                lastRecordTimestamp: '2026-01-01T00:00:00.000Z',
              },
            },
          },
          responsePayload: { errorType: 'Error', errorMessage: 'database unavailable' },
        });
        expect(failure?.payload.records[`${TOPIC}-0`]?.map((r) => decode(r.value))).toEqual([
          'event-0',
          'event-1',
          'event-2',
        ]);
        expect(esm.stats()).toMatchObject({
          functionErrors: 3,
          retries: 2,
          sentToDestination: 3,
          recordsCommitted: 5,
        });
      });

      it('retries a failed destination write without invoking the handler again, and commits only after it', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(2);
        const { deliveries, handler } = recordingHandler(() => {
          throw new Error('always');
        });
        const stored: KafkaFailureRecord[] = [];
        const committedAtWrites: number[] = [];
        const destination = async (record: KafkaFailureRecord) => {
          committedAtWrites.push(await backend.committed(GROUP, TOPIC, 0));
          if (committedAtWrites.length === 1) throw new Error('destination unavailable');
          stored.push(record);
        };

        // Act
        await emulator(handler, { retryAttempts: 0, onFailure: destination }).drain({ timeoutMillis: 5_000 });

        // Assess
        expect(deliveries).toHaveLength(1);
        expect(committedAtWrites).toEqual([0, 0]);
        expect(stored.map((r) => r.KafkaBatchInfo.batchSize)).toEqual([2]);
        expect(await backend.committed(GROUP, TOPIC, 0)).toBe(2);
      });

      it('caps infinite retries at ten when a destination is configured', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(1);
        const { deliveries, handler } = recordingHandler(() => {
          throw new Error('always');
        });

        // Act
        await emulator(handler, { retryAttempts: -1, onFailure: { topic: DLQ } }).drain({
          timeoutMillis: 5_000,
        });

        // Assess
        expect(deliveries).toHaveLength(11);
        expect((await destinationRecords())[0]?.requestContext.approximateInvokeCount).toBe(11);
      });

      it('isolates a poison record by bisecting the batch and delivers all the others', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(16);
        const succeeded: number[] = [];
        const { handler } = recordingHandler((delivery) => {
          if (delivery.offsets.includes(11)) throw new Error('poison');
          succeeded.push(...delivery.offsets);
        });
        const esm = emulator(handler, {
          batchSize: 16,
          bisectBatchOnError: true,
          retryAttempts: 1,
          onFailure: { topic: DLQ },
        });

        // Act
        await esm.drain({ timeoutMillis: 5_000 });

        // Assess
        expect(succeeded).toEqual(range(0, 16).filter((offset) => offset !== 11));
        const failures = await destinationRecords();
        expect(failures).toHaveLength(1);
        expect(failures[0]?.KafkaBatchInfo).toMatchObject({
          batchSize: 1,
          recordsInfo: { [`${TOPIC}-0`]: { firstRecordOffset: '11', lastRecordOffset: '11' } },
        });
        expect(failures[0]?.requestContext.approximateInvokeCount).toBe(2);
        expect(await backend.committed(GROUP, TOPIC, 0)).toBe(16);
        expect(esm.stats()).toMatchObject({ bisects: 4, sentToDestination: 1 });
      });

      it('sends records older than the maximum record age to the destination without invoking the handler', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(3, 0, Date.now() - 3_600_000);
        await produce(2);
        const { deliveries, handler } = recordingHandler();

        // Act
        await emulator(handler, { maxRecordAgeSeconds: 60, onFailure: { topic: DLQ } }).drain({
          timeoutMillis: 5_000,
        });

        // Assess
        expect(deliveries.map((d) => d.offsets)).toEqual([range(3, 5)]);
        const [expired] = await destinationRecords();
        expect(expired).toMatchObject({
          requestContext: { condition: 'MaximumRecordAgeExceeded', approximateInvokeCount: 0 },
          responseContext: { statusCode: 0 },
          KafkaBatchInfo: {
            batchSize: 3,
            recordsInfo: { [`${TOPIC}-0`]: { firstRecordOffset: '0', lastRecordOffset: '2' } },
          },
        });
        expect(await backend.committed(GROUP, TOPIC, 0)).toBe(5);
      });

      it('counts a handler that outlives the function timeout as a function error and retries the batch', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(2);
        const { deliveries, handler } = recordingHandler(async (_, call) => {
          if (call === 1) await delay(300);
        });
        const esm = emulator(handler, { functionTimeoutMillis: 50 });

        // Act
        await esm.drain({ timeoutMillis: 5_000 });

        // Assess
        expect(deliveries.map((d) => d.offsets)).toEqual([range(0, 2), range(0, 2)]);
        expect(deliveries[0]?.context.getRemainingTimeInMillis()).toBe(0);
        expect(esm.stats()).toMatchObject({ functionErrors: 1, retries: 1, recordsCommitted: 2 });
      });

      it('keeps offsets uncommitted when the handler keeps failing and the emulator stops, then redelivers them', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 1);
        await produce(4);
        const failing = recordingHandler(() => {
          throw new Error('down');
        });
        const first = emulator(failing.handler);
        await first.start();
        while (failing.deliveries.length < 3) await delay(5);
        await first.stop();
        const committedAfterFailures = await backend.committed(GROUP, TOPIC, 0);

        // Act
        const healthy = recordingHandler();
        await emulator(healthy.handler).drain({ timeoutMillis: 5_000 });

        // Assess
        expect(committedAfterFailures).toBe(0);
        expect(healthy.deliveries.map((d) => d.offsets)).toEqual([range(0, 4)]);
      });
    });

    describe('crash safety', () => {
      it('commits nothing before it is processed when the consumer process is killed mid-batch', async () => {
        // Prepare
        await backend.createTopic(TOPIC, 2);
        await produce(80, 0);
        await produce(80, 1);
        const processedFile = join(scratch, `processed-${testNumber}.txt`);
        const consumer = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            CONSUME_IN_CHILD,
            ...backend.childArguments(),
            TOPIC,
            GROUP,
            processedFile,
            '25',
          ],
          { stdio: ['ignore', 'ignore', 'inherit'] },
        );
        child = consumer;
        const processedLines = async () =>
          (await readFile(processedFile, 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
        while ((await processedLines()).length < 30 && consumer.exitCode === null) await delay(5);

        // Act
        consumer.kill('SIGKILL');
        await new Promise((resolve) => consumer.once('exit', resolve));
        // A commit the child sent just before it died may still be applied by the broker: read the group's
        // offsets once they stopped moving.
        const committedNow = async () => [
          await backend.committed(GROUP, TOPIC, 0),
          await backend.committed(GROUP, TOPIC, 1),
        ];
        let committedAtKill = await committedNow();
        for (;;) {
          await delay(300);
          const again = await committedNow();
          if (again.every((offset, partition) => offset === committedAtKill[partition])) break;
          committedAtKill = again;
        }
        const processedByChild = new Set(await processedLines());
        const { deliveries, handler } = recordingHandler();
        // On Kafka the killed member holds its partitions until its session times out (10 s).
        await emulator(handler).drain({ timeoutMillis: 30_000 });

        // Assess
        for (const [partition, committed] of committedAtKill.entries()) {
          expect(committed).toBeLessThan(80);
          for (const offset of range(0, committed))
            expect(processedByChild.has(`${partition}:${offset}`)).toBe(true);
        }
        for (const partition of [0, 1]) {
          const redelivered = deliveries.flatMap((d) =>
            d.records.filter((r) => r.partition === partition).map((r) => r.offset),
          );
          expect(redelivered).toEqual(range(committedAtKill[partition] ?? 0, 80));
        }
      });
    });

    describe('options', () => {
      it('rejects options that Lambda would reject', async () => {
        // Prepare
        const { handler } = recordingHandler();

        // Act
        const attempts = [
          { batchSize: 0 },
          { batchSize: 10_001 },
          { batchWindowMillis: 300_001 },
          { retryAttempts: -2 },
          { maxRecordAgeSeconds: 0 },
          { onFailure: { topic: TOPIC } },
        ].map((options) => () => emulator(handler, options));

        // Assess
        for (const attempt of attempts) expect(attempt).toThrow(InvalidEventSourceOptionsError);
      });
    });
  });
}
