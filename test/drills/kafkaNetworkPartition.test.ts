import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_GROUP, LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { destroyAll, sleep } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { KafkaStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { kafkaReady } from '../support/kafka.js';

const EVENTS = 20_000;
const CUSTOMERS = 2_500;
const PER_SECOND = 1_000;
const CUT_AFTER_MILLIS = 6_000;
const CUT_MILLIS = 10_000;

describe.skipIf(!kafkaReady)('drill: network partition between the consumer and the Kafka brokers', () => {
  let services: LocalDataServices;
  let cluster: KafkaCluster;

  beforeAll(async () => {
    // Each broker advertises a fault proxy for clients; replication between the brokers stays direct.
    [services, cluster] = await Promise.all([
      LocalDataServices.start({ shards: 4, name: 'kafka-partition' }),
      KafkaCluster.start({ nodes: 3, proxied: true, name: 'kafka-partition' }),
    ]);
    const admin = await cluster.admin();
    await applyTopics(admin, configuredTopics('dev')).finally(() => admin.disconnect());
  });

  afterAll(async () => {
    await destroyAll();
    await services?.stop();
  });

  it('cut for 10 s mid-load: the consumer resumes after the heal, loses nothing, and the state is exact', async () => {
    // Prepare: the consumer reaches the brokers through the proxies, the producer directly.
    const consumerSide = new KafkaStream({ brokers: cluster.brokers, clientId: 'partitioned-consumer' });
    const producerSide = new KafkaStream({ brokers: cluster.directBrokers, clientId: 'partition-producer' });
    const consumer = await LocalConsumer.create({
      stream: consumerSide,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
    });
    const publisher = producerSide.publisher('partition-producer');
    const traffic = generateTraffic({
      events: EVENTS,
      customers: CUSTOMERS,
      seed: 71,
      customerPrefix: 'cut',
    });
    const applied = { atCut: 0, atHeal: 0 };
    const clock = { started: 0, healedAt: 0, caughtUpAt: 0 };
    const publishing = async () => {
      for (let i = 0; i < traffic.length; i += 200) {
        await sleep(clock.started + (i / PER_SECOND) * 1_000 - Date.now());
        await publisher.publish(LOCAL_TOPIC, traffic.slice(i, i + 200));
      }
    };
    const partition = async () => {
      await sleep(CUT_AFTER_MILLIS);
      applied.atCut = consumer.consumer.totals.applied;
      await Promise.all(cluster.brokerNodes().map((node) => cluster.proxy(node.id).cut(CUT_MILLIS)));
      clock.healedAt = Date.now();
      applied.atHeal = consumer.consumer.totals.applied;
    };

    // Act
    await consumer.start();
    clock.started = Date.now();
    try {
      await Promise.all([publishing(), partition()]);
      await consumer.drain({ timeoutMillis: 120_000 });
      clock.caughtUpAt = Date.now();
    } finally {
      await consumer.close();
      await publisher.close();
    }

    // Assess
    const lag = await producerSide.lag(LOCAL_GROUP, LOCAL_TOPIC);
    await Promise.all([consumerSide.close(), producerSide.close()]);
    const snapshot = await snapshotShards(services);
    const expected = expectedState(traffic);
    const mine = [...snapshot.customers].filter(([id]) => id.startsWith('cut-'));
    const resets = cluster
      .brokerNodes()
      .reduce((sum, node) => sum + cluster.proxy(node.id).stats().resets, 0);
    console.info(
      `kafka partition drill: consumer cut off the brokers for ${CUT_MILLIS} ms (${resets} connections reset); ` +
        `applied ${applied.atCut} at the cut, ${applied.atHeal} at the heal (${applied.atHeal - applied.atCut} ` +
        `during the cut, from batches already fetched); caught up ${clock.caughtUpAt - clock.healedAt} ms after ` +
        `the heal; ${snapshot.appliedEvents} events applied`,
    );
    expect(applied.atCut).toBeGreaterThan(0);
    expect(applied.atHeal).toBeLessThan(EVENTS);
    expect(Object.values(lag).every((records) => records === 0)).toBe(true);
    expect(mine).toHaveLength(CUSTOMERS);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(EVENTS);
    expect(snapshot.appliedEvents).toBe(EVENTS);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(await indexMismatches(services.redis?.url ?? '', expected)).toEqual([]);
  }, 240_000);
});
