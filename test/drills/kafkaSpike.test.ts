import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { LOCAL_TOPIC } from '../../local/consumer/LocalConsumer.js';
import type { ConsumerProcess } from '../../local/drills/support/consumerProcesses.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import {
  memberPool,
  POLICY,
  runSpike,
  type SpikeTarget,
  TEST_SPIKE,
  THRESHOLDS,
  totalLag,
} from '../../local/drills/volumeSpike.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { destroyAll, sleep, waitFor } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { KafkaStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { kafkaReady } from '../support/kafka.js';

/**
 * Bound stated for the scaled run: the lag is back below the high threshold this long after the burst
 * (23 s measured on an otherwise idle 2-core machine, 87 s with three other test runs beside it).
 */
const SCALED_DRAIN_BOUND_MILLIS = 120_000;

describe.skipIf(!kafkaReady)(
  'drill: a 10x message volume spike, consumers scaled on lag (real Kafka)',
  () => {
    let services: LocalDataServices;
    let cluster: KafkaCluster;
    let stream: KafkaStream;
    let target: SpikeTarget;
    const children = new Set<ConsumerProcess>();

    beforeAll(async () => {
      [services, cluster] = await Promise.all([
        LocalDataServices.start({ shards: 4, name: 'spike' }),
        KafkaCluster.start({ nodes: 1, name: 'spike' }),
      ]);
      const admin = await cluster.admin();
      await applyTopics(admin, configuredTopics('dev')).finally(() => admin.disconnect());
      stream = new KafkaStream({ brokers: cluster.brokers, clientId: 'spike-drill' });
      target = {
        stream,
        memberEnv: { CDP_KAFKA_BROKERS: cluster.brokers.join(',') },
        maxMembers: POLICY.ceiling,
        publish: (clientId) => {
          const producer = stream.publisher(clientId);
          return {
            publish: (envelopes) => producer.publish(LOCAL_TOPIC, envelopes),
            close: () => producer.close(),
          };
        },
      };
    });

    afterAll(async () => {
      for (const { child } of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await stream?.close();
      await destroyAll();
      await services?.stop();
    });

    async function expectExactlyOnce(prefix: string, traffic: readonly Envelope[]): Promise<void> {
      const snapshot = await snapshotShards(services);
      const mine = [...snapshot.customers].filter(([id]) => id.startsWith(`${prefix}-`));
      expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(traffic.length);
      for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
    }

    it('scales out through the burst, drains below the threshold within the bound, scales back in; 0 lost, 0 duplicated', async () => {
      // Act: the same burst, first with the scaler fixed at one member, then scaling.
      const fixed = await runSpike(services, target, {
        prefix: 'spike-fixed',
        seed: 301,
        scaled: false,
        shape: TEST_SPIKE,
        children,
      });
      const scaled = await runSpike(services, target, {
        prefix: 'spike-scaled',
        seed: 302,
        scaled: true,
        shape: TEST_SPIKE,
        children,
      });

      // Assess
      console.info(
        `spike drill: ${fixed.traffic.length} events per run (${TEST_SPIKE.steadyPerSecond}/s, ` +
          `${TEST_SPIKE.burstPerSecond}/s for ${TEST_SPIKE.burstMillis / 1_000} s, ${TEST_SPIKE.steadyPerSecond}/s); ` +
          `without scaling: peak lag ${fixed.peakLag}, below ${THRESHOLDS.high} ${fixed.belowThresholdMillis} ms and ` +
          `drained ${fixed.drainedMillis} ms after the burst; with scaling (1 → ${scaled.maxMembers} members, back to ` +
          `${scaled.finalMembers}): peak lag ${scaled.peakLag}, below ${THRESHOLDS.high} ` +
          `${scaled.belowThresholdMillis} ms and drained ${scaled.drainedMillis} ms after the burst`,
      );
      expect(fixed.peakLag).toBeGreaterThan(THRESHOLDS.high);
      expect(scaled.peakLag).toBeGreaterThan(THRESHOLDS.high);
      expect(scaled.maxMembers).toBeGreaterThan(1);
      expect(scaled.maxMembers).toBeLessThanOrEqual(POLICY.ceiling);
      expect(scaled.finalMembers).toBe(POLICY.floor);
      expect(scaled.belowThresholdMillis).toBeLessThanOrEqual(SCALED_DRAIN_BOUND_MILLIS);
      await expectExactlyOnce('spike-fixed', fixed.traffic);
      await expectExactlyOnce('spike-scaled', scaled.traffic);
    }, 600_000);

    it('takes a partition increase (12 → 24) while traffic flows: 0 lost, final state exact', async () => {
      // Prepare: two members consume while a producer sends steadily.
      const pool = memberPool(services, target.memberEnv, children);
      await pool.scaleTo(2);
      const traffic = generateTraffic({
        events: 12_000,
        customers: 1_000,
        seed: 303,
        customerPrefix: 'regrow',
      });
      let publisher = stream.publisher('regrow-1');
      const started = Date.now();
      const admin = await cluster.admin();
      try {
        // Act: halfway through, the configuration raises the topic to 24 partitions; the producers that
        // start afterwards (a new execution environment) spread keys over 24.
        for (let i = 0; i < traffic.length; i += 200) {
          await sleep(started + (i / 600) * 1_000 - Date.now());
          if (i === 6_000) {
            await applyTopics(
              admin,
              configuredTopics('dev').map((t) => (t.name === LOCAL_TOPIC ? { ...t, partitions: 24 } : t)),
            );
            await publisher.close();
            publisher = stream.publisher('regrow-2');
          }
          await publisher.publish(LOCAL_TOPIC, traffic.slice(i, i + 200));
        }
        await publisher.close();
        await waitFor(async () => (await stream.partitionsOf(LOCAL_TOPIC)) === 24, {
          timeoutMs: 15_000,
          description: 'the topic to report 24 partitions',
        });
        await waitFor(async () => (await totalLag(stream)) === 0, {
          timeoutMs: 120_000,
          intervalMs: 250,
          description: 'the members to consume every partition, old and new',
        });
      } finally {
        await admin.disconnect();
        await pool.scaleTo(0);
      }

      // Assess
      const ends = await stream.endOffsets(LOCAL_TOPIC);
      expect(ends).toHaveLength(24);
      expect(ends.slice(12).some((end) => end > 0)).toBe(true);
      await expectExactlyOnce('regrow', traffic);
    }, 300_000);
  },
);
