import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { EventLogRequestError, EventLogUnavailableError } from '../../../lambdas/shared/replay/errors.js';
import type { EventLogReader, EventLogRecord, OffsetRange } from '../../../lambdas/shared/replay/eventLog.js';
import { eventLogPolicy } from '../../../lambdas/shared/replay/eventLogPolicy.js';
import { replayRanges } from '../../../lambdas/shared/replay/replayRecords.js';
import { replaySettings } from '../../../lambdas/shared/resilience/defaults.js';
import { ConcurrentAppendError, CorruptLogError } from '../../../local/log/errors.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;

const FAST = replaySettings({
  attemptTimeoutMillis: 200,
  retries: 2,
  retryInitialDelayMillis: 1,
  retryMaxDelayMillis: 2,
});

/** What kafkajs throws once its own retries of a lost broker connection are used up. */
const brokerOutage = () =>
  new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'), {
    retryCount: 5,
    retryTime: 3_000,
  });

/** A call that fails with the given errors, then answers `'ok'`; counts its attempts. */
function failing(...errors: unknown[]) {
  let calls = 0;
  const work = async () => {
    calls += 1;
    const error = errors.shift();
    if (error !== undefined) throw error;
    return 'ok';
  };
  return { work, calls: () => calls };
}

describe('event log policy', () => {
  it('retries a broker outage (kafkajs retries exceeded) and succeeds when the broker is back', async () => {
    const call = failing(brokerOutage(), new KafkaJSConnectionError('Connection error: socket hang up'));

    await expect(eventLogPolicy(FAST).execute(call.work)).resolves.toBe('ok');
    expect(call.calls()).toBe(3);
  });

  it('surfaces a lasting broker outage as EventLogUnavailableError, which the workflow retries', async () => {
    const call = failing(brokerOutage(), brokerOutage(), brokerOutage());

    const failure = eventLogPolicy(FAST).execute(call.work, { topic: 't' });

    await expect(failure).rejects.toBeInstanceOf(EventLogUnavailableError);
    await expect(failure).rejects.toMatchObject({
      name: 'EventLogUnavailableError',
      retriable: true,
      context: { topic: 't' },
    });
    expect(call.calls()).toBe(3);
  });

  it('does not repeat a request the broker refuses for good', async () => {
    const denied = new KafkaJSProtocolError(
      Object.assign(new Error('Not authorized to access topics'), {
        type: 'TOPIC_AUTHORIZATION_FAILED',
        code: 29,
        retriable: false,
      }),
    );
    const call = failing(denied);

    await expect(eventLogPolicy(FAST).execute(call.work)).rejects.toBeInstanceOf(EventLogRequestError);
    expect(call.calls()).toBe(1);
  });

  it('keeps the local log errors as they are classified: retriable retried, others not', async () => {
    const busy = failing(new ConcurrentAppendError('0.log', 4242));
    const corrupt = failing(new CorruptLogError('Record at offset 3 is not valid JSON', '0.log'));

    await expect(eventLogPolicy(FAST).execute(busy.work)).resolves.toBe('ok');
    await expect(eventLogPolicy(FAST).execute(corrupt.work)).rejects.toBeInstanceOf(EventLogRequestError);
    expect(busy.calls()).toBe(2);
    expect(corrupt.calls()).toBe(1);
  });

  it('times an attempt out and reports an unavailable log when every attempt hangs', async () => {
    let calls = 0;
    const hang = () => {
      calls += 1;
      return new Promise<never>(() => undefined);
    };

    await expect(eventLogPolicy(FAST).execute(hang)).rejects.toBeInstanceOf(EventLogUnavailableError);
    expect(calls).toBe(3);
  });
});

describe('replayRanges', () => {
  const record = (offset: number): EventLogRecord => ({
    partition: 0,
    offset,
    timestamp: 0,
    key: null,
    value: Buffer.from(String(offset)),
    headers: {},
  });

  it('reports what the successful attempt copied, not what failed attempts copied too', async () => {
    // Prepare: the first read hands over offsets 0..3 and then fails with a retriable error.
    let reads = 0;
    const reader: Pick<EventLogReader, 'read'> = {
      async read(_topic: string, range: OffsetRange, onChunk) {
        reads += 1;
        const all = Array.from({ length: range.toOffset - range.fromOffset + 1 }, (_, i) =>
          record(range.fromOffset + i),
        );
        await onChunk(all.slice(0, 4));
        if (reads === 1) throw new ConcurrentAppendError('0.log', 4242);
        await onChunk(all.slice(4));
      },
    };
    const written: string[] = [];
    const progress: number[] = [];

    // Act
    const summary = await replayRanges(
      {
        reader: reader as EventLogReader,
        writer: {
          write: async (_topic, messages) => void written.push(...messages.map((m) => String(m.value))),
        },
        topic: 'events',
        targetTopic: 'retry',
        policy: eventLogPolicy(FAST),
        onProgress: (p) => progress.push(p.replayed),
      },
      [{ partition: 0, fromOffset: 0, toOffset: 9 }],
    );

    // Assess: the retried range is copied again (harmless), but counted once.
    expect(summary.replayed).toBe(10);
    expect(written).toHaveLength(14);
    expect(progress).toEqual([4, 4, 10]);
  });
});
