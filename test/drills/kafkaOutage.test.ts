import { describe, expect, it } from 'vitest';
import { INGEST_DEFAULTS } from '../../lambdas/shared/ingest/IngestService.js';
import { RETRY_AFTER_SECONDS, runKafkaOutage } from '../../local/drills/kafkaOutage.js';
import { kafkaReady } from '../support/kafka.js';

const EVENTS = 50_000;
/** Deliberately small, so the outage fills it and requests past it get 503. */
const SPILL_BOUND = 4_000;

describe.skipIf(!kafkaReady)(
  'drill: every Kafka broker unavailable for 32 s under load (real 3-node cluster)',
  () => {
    it('loses no accepted event: spills within its bound, answers 503 past it, drains after recovery, one effect each', async () => {
      // Act: after 8 s of health every broker is paused for 12 s, then killed and started again 20 s later,
      // while 50 clients send 1,100 events/s through the ingest API, retrying each 503 after its Retry-After.
      const result = await runKafkaOutage({
        backend: 'kafka',
        events: EVENTS,
        seconds: 32,
        outageStartsSeconds: 8,
        spillBound: SPILL_BOUND,
      });

      // Assess
      const { details } = result;
      console.info(
        `kafka outage drill: ${JSON.stringify({ ...details, backpressure: details.backpressure.length, wrongCustomers: details.wrongCustomers.length })}`,
      );
      // The spillover was used, never past its bound; requests past it got 503 + Retry-After, then got in.
      expect(details.spilled).toBeGreaterThan(SPILL_BOUND);
      expect(details.maxSpillDepth).toBeLessThanOrEqual(SPILL_BOUND);
      expect(details.maxSpillDepth).toBeGreaterThan(SPILL_BOUND * 0.9);
      expect(details.answers.unavailable).toBeGreaterThan(0);
      expect(details.answers.other).toEqual([]);
      // Every 503 is a retriable refusal the client retried: mostly a full spillover, rarely (on a loaded
      // machine) a spill write that outlived its deadline; nothing else.
      expect(details.backpressure.length + details.spillFailureCodes.length).toBe(
        details.answers.unavailable,
      );
      expect(details.spillFailureCodes.every((code) => code === 'SPILL_FAILED')).toBe(true);
      for (const { retryAfterSeconds, depth, bound, events } of details.backpressure) {
        expect(retryAfterSeconds).toBeGreaterThan(0);
        expect(depth + events).toBeGreaterThan(bound);
      }
      // Retry-After: the spillover's for a full spillover, the service's for a spill write that failed.
      expect([...details.retryAfterHeaders].sort()).toEqual(
        [
          String(RETRY_AFTER_SECONDS),
          ...(details.spillFailureCodes.length > 0 ? [String(INGEST_DEFAULTS.retryAfterSeconds)] : []),
        ].sort(),
      );
      expect(details.emptiedAfterRecovery).toBe(true);
      // The spillover was drained in spill order.
      // At least every counted spill; more when a write that outlived its deadline was retried.
      expect(details.spillOrderLength).toBeGreaterThanOrEqual(details.spilled);
      expect(details.outOfSpillOrder).toBe(0);

      // Every accepted event reached the brokers (at least once) and had exactly one effect on the shards.
      expect(details.acceptedEvents).toBe(EVENTS);
      expect(details.notOnTopic).toEqual([]);
      expect(details.distinctOnTopic).toBe(details.acceptedEvents);
      expect(details.lagAfter).toBe(0);
      expect(details.customers).toBe(details.expectedCustomers);
      expect(details.effects).toBe(details.acceptedEvents);
      expect(details.appliedEvents).toBe(details.acceptedEvents);
      expect(details.wrongCustomers).toEqual([]);
      expect(result.counts).toMatchObject({ lost: 0, duplicateEffects: 0 });
      expect(result.passed).toBe(true);
    }, 300_000);
  },
);
