import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MSKRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredConsumer, wireConsumer } from '../../lambdas/consumer/dependencies.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { mskEvent, mskRecord } from '../support/events.js';
import {
  envelopeOf,
  eventIdOf,
  type GeneratedEvent,
  generatedEvent,
  recordValueOf,
} from '../support/hostileEvents.js';
import { MemoryDeadLetters } from '../support/memoryDeadLetters.js';

const TOPIC = 'customer-events.v1';
/** Modest on purpose: each run is one invocation of the consumer on real PostgreSQL and Redis. */
const RUNS = 60;

/** One generated record as delivered, with what it must come to. */
interface Planned {
  readonly offset: number;
  readonly customerId: string;
  readonly envelope: Envelope;
  readonly storable: boolean;
  /** The generated record it repeats (itself unless it is a redelivery): same body, same customer. */
  readonly body: number;
}

function plan(run: number, generated: readonly GeneratedEvent[]): Planned[] {
  const planned: Planned[] = [];
  generated.forEach((g, i) => {
    const source = g.copyOf !== undefined && i >= g.copyOf ? (planned[i - g.copyOf]?.body ?? i) : i;
    const original = generated[source] ?? g;
    const customerId = `prop${run}-h${source}`;
    const copy = source === i ? g : { ...original, idCase: g.idCase };
    const { envelope, storable } = envelopeOf(copy, run, customerId);
    planned.push({
      offset: i,
      customerId,
      envelope,
      storable: storable && !original.brokenUtf8,
      body: source,
    });
  });
  return planned;
}

describe('decode → apply over generated hostile events on real PostgreSQL (2 shards) and Redis', () => {
  let services: LocalDataServices;
  let wired: WiredConsumer;
  const letters = new MemoryDeadLetters();

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 2, name: 'properties' });
    wired = await wireConsumer({
      shardMap: services.shardMap,
      redis: { url: services.redis?.url ?? '' },
      deadLetters: letters,
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'consumer' }),
      settings: { flushWaitMillis: 50 },
    });
  });

  afterAll(async () => {
    await wired?.close();
    await services?.stop();
  });

  it('applies every storable event exactly once, dead-letters every other exactly once with a reason, and always applies the valid neighbours', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(generatedEvent, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 1_000 }),
        async (generated, seed) => {
          // Prepare: hostile records of this run's own customers and ids, neighbours interleaved.
          run += 1;
          letters.letters.length = 0;
          const planned = plan(run, generated);
          const neighbours = generateTraffic({
            events: 12,
            customers: 4,
            seed,
            customerPrefix: `prop${run}-good`,
          }).map((e) => ({ ...e, eventId: `ee${String(run).padStart(6, '0')}${e.eventId.slice(8)}` }));
          const hostileRecords = planned.map((p) => ({
            p,
            value: recordValueOf(p.envelope, generated[p.body]?.brokenUtf8 ?? false),
          }));
          const records: MSKRecord[] = [];
          const offsetOf = new Map<Planned, number>();
          let n = 0;
          for (const [i, { p, value }] of hostileRecords.entries()) {
            const good = neighbours[i];
            if (good !== undefined) records.push(mskRecord(TOPIC, run % 4, n++, good));
            offsetOf.set(p, n);
            records.push({
              ...mskRecord(TOPIC, run % 4, n++, p.envelope),
              value: value.toString('base64'),
            });
          }
          for (const good of neighbours.slice(hostileRecords.length))
            records.push(mskRecord(TOPIC, run % 4, n++, good));

          // Act
          const response = await wired.consumer.handle(mskEvent(records));

          // Assess: no record left to retry; one letter at most per record, each with a reason.
          expect(response.batchItemFailures).toEqual([]);
          const lettersAt = new Map<number, Array<{ reason: string; details: string }>>();
          for (const l of letters.letters)
            lettersAt.set(l.record.offset, [...(lettersAt.get(l.record.offset) ?? []), l]);
          for (const list of lettersAt.values()) {
            expect(list).toHaveLength(1);
            expect(list[0]?.details.length).toBeGreaterThan(0);
          }
          expect(letters.letters.filter((l) => l.reason === 'rejected-by-database')).toEqual([]);

          // Per event id: the first storable body (in delivery order) is recorded, once; other bodies conflict.
          const slotOf = (p: Planned) => generated[p.body]?.slot ?? -1;
          const firstBody = new Map<number, number>();
          for (const p of planned) {
            const slot = slotOf(p);
            if (p.storable && !firstBody.has(slot)) firstBody.set(slot, p.body);
          }
          for (const p of planned) {
            const offset = offsetOf.get(p) ?? -1;
            const letter = lettersAt.get(offset)?.[0];
            const slot = slotOf(p);
            if (!p.storable)
              expect(letter?.reason, `record ${p.offset}`).toMatch(/^(schema-violation|bad-utf8)$/);
            else if (firstBody.get(slot) !== p.body)
              expect(letter?.reason, `record ${p.offset}`).toBe('conflict');
            else expect(letter, `record ${p.offset}`).toBeUndefined();
          }
          const snapshot = await snapshotShards(services);
          const recorded = await recordedIds(run);
          expect([...recorded.keys()].sort()).toEqual(
            [...firstBody.keys()].map((slot) => eventIdOf(run, slot)).sort(),
          );
          for (const [slot, body] of firstBody) {
            expect(recorded.get(eventIdOf(run, slot))).toBe(`prop${run}-h${body}`);
          }
          for (const p of planned) {
            const stored = firstBody.get(slotOf(p)) === p.body;
            expect(snapshot.customers.has(p.customerId), `customer of record ${p.offset}`).toBe(stored);
          }
          for (const [id, state] of expectedState(neighbours))
            expect(snapshot.customers.get(id)).toEqual(state);
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  });

  /** Event id (canonical) → customer, of the events of one run recorded in any shard. */
  async function recordedIds(run: number): Promise<Map<string, string>> {
    const recorded = new Map<string, string>();
    for (const shard of services.shardMap.shards) {
      const client = services.shardClient(shard.id);
      try {
        const { rows } = await client.query<{ event_id: string; customer_id: string }>(
          'SELECT event_id::text AS event_id, customer_id FROM applied_events WHERE customer_id LIKE :prefix',
          { prefix: `prop${run}-h%` },
        );
        for (const row of rows) {
          expect(recorded.has(row.event_id)).toBe(false);
          recorded.set(row.event_id, row.customer_id);
        }
      } finally {
        await client.close();
      }
    }
    return recorded;
  }
});
