import type { MSKEvent } from 'aws-lambda';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordsOf } from '../../lambdas/shared/consumer/batchResponse.js';
import { DrainTimeoutError, type EmulatorLogger } from '../../local/esm/index.js';
import { type EventSourceBackend, kafkaBackend } from '../support/eventSources.js';
import { kafkaReady } from '../support/kafka.js';

const PARTITIONS = 3;

/** A logger that keeps what it was told. */
function recordingLogger() {
  const warnings: Array<{ message: string; attributes: Array<Record<string, unknown>> }> = [];
  const logger: EmulatorLogger = {
    info: () => undefined,
    warn: (message, ...attributes) => {
      warnings.push({ message, attributes });
    },
    error: () => undefined,
  };
  return { logger, warnings };
}

/**
 * The kafkajs consumer of a running event source. A consumer that comes back from a whole-cluster restart
 * running yet no longer fetching some partitions cannot be produced on demand; pausing those partitions on
 * the live consumer puts it in the same state: a member of the group that holds partitions and never
 * fetches them, with no error anywhere.
 */
const consumerOf = (source: unknown): Consumer => {
  const consumer = (source as { consumer?: Consumer }).consumer;
  if (consumer === undefined) throw new TypeError('the event source runs no consumer');
  return consumer;
};

describe.skipIf(!kafkaReady)('Kafka event source watchdog (real Kafka)', () => {
  const backend: EventSourceBackend = kafkaBackend();
  let run = 0;

  beforeAll(async () => {
    await backend.setup();
  }, 120_000);

  afterAll(async () => {
    await backend.teardown();
  });

  /** A topic with records on every partition, a source draining it, then two partitions left unfetched. */
  async function stalledSource(stallTimeoutMillis: number) {
    run += 1;
    const topic = `stall-${run}`;
    const delivered: string[] = [];
    const handler = async (event: MSKEvent) => {
      for (const record of recordsOf(event))
        delivered.push(Buffer.from(record.value ?? '', 'base64').toString());
    };
    const { logger, warnings } = recordingLogger();
    await backend.createTopic(topic, PARTITIONS);
    const append = (prefix: string) =>
      Promise.all(
        Array.from({ length: PARTITIONS }, (_, partition) =>
          backend.append(
            topic,
            Array.from({ length: 10 }, (_, i) => ({ value: `${prefix}-${partition}-${i}`, partition })),
          ),
        ),
      );
    await append('before');
    const source = backend.eventSource({
      topic,
      group: `stall-group-${run}`,
      handler,
      batchWindowMillis: 0,
      logger,
      // The Kafka backend hands its options on to KafkaEventSource, watchdog timeout included.
      ...{ stallTimeoutMillis },
    });
    await source.start();
    await source.drain({ timeoutMillis: 60_000 });
    consumerOf(source).pause([{ topic, partitions: [0, 1] }]);
    await append('after');
    return { source, delivered, warnings };
  }

  it('replaces a member that stopped fetching partitions with records waiting, and delivers them', async () => {
    // Prepare
    const { source, delivered, warnings } = await stalledSource(3_000);

    try {
      // Act
      await source.drain({ timeoutMillis: 60_000 });

      // Assess: every record once at least, the ones behind the stall included, and the stall named.
      const after = delivered.filter((value) => value.startsWith('after-'));
      expect(new Set(after).size).toBe(PARTITIONS * 10);
      expect(new Set(delivered).size).toBe(PARTITIONS * 20);
      const stall = warnings.find((w) => w.message.includes('made no progress'));
      expect(stall?.attributes[0]).toMatchObject({ stallMillis: 3_000 });
      const stalled = (stall?.attributes[0]?.stalled ?? []) as Array<{ partition: number }>;
      expect(stalled.map((p) => p.partition).sort()).toEqual([0, 1]);
      expect(source.stats().membersReplaced?.stalled).toBeGreaterThanOrEqual(1);
    } finally {
      await source.stop();
    }
  }, 120_000);

  it('without the watchdog, the same member never delivers them (the failure the watchdog repairs)', async () => {
    // Prepare
    const { source, delivered } = await stalledSource(Number.POSITIVE_INFINITY);

    try {
      // Act
      const drained = source.drain({ timeoutMillis: 8_000 });

      // Assess
      await expect(drained).rejects.toBeInstanceOf(DrainTimeoutError);
      const after = new Set(delivered.filter((value) => value.startsWith('after-')));
      expect([...after].every((value) => value.startsWith('after-2-'))).toBe(true);
      expect(source.stats().membersReplaced).toEqual({ crashed: 0, stalled: 0 });
    } finally {
      await source.stop();
    }
  }, 120_000);
});
