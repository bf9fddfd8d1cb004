import type { ChildProcess } from 'node:child_process';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import {
  LOCAL_GROUP,
  LOCAL_RETRY_GROUP,
  LOCAL_RETRY_TOPIC,
  LOCAL_TOPIC,
} from '../../local/consumer/LocalConsumer.js';
import { exited, startConsumerProcess } from '../../local/drills/support/consumerProcesses.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { destroyAll, sleep, waitFor } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { KafkaStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { kafkaReady } from '../support/kafka.js';

const EVENTS = 24_000;
const CUSTOMERS = 2_000;
const MEMBERS = 3;
/** Events published per second while the members consume. */
const RATE = 2_000;

/** The group's state and size; Unknown while its coordinator is not available yet (a loaded, fresh cluster). */
async function groupMembers(admin: Admin, group: string): Promise<{ state: string; members: number }> {
  try {
    const { groups } = await admin.describeGroups([group]);
    return { state: groups[0]?.state ?? 'Unknown', members: groups[0]?.members.length ?? 0 };
  } catch {
    return { state: 'Unknown', members: 0 };
  }
}

async function totalLag(stream: KafkaStream): Promise<number> {
  const lags = await Promise.all([
    stream.lag(LOCAL_GROUP, LOCAL_TOPIC),
    stream.lag(LOCAL_RETRY_GROUP, LOCAL_RETRY_TOPIC),
  ]);
  return lags.flatMap((lag) => Object.values(lag)).reduce((a, b) => a + b, 0);
}

describe.skipIf(!kafkaReady)('drill: a consumer of a real consumer group crashes mid-batch', () => {
  let services: LocalDataServices;
  let cluster: KafkaCluster;
  let stream: KafkaStream;
  let admin: Admin;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    [services, cluster] = await Promise.all([
      LocalDataServices.start({ shards: 4, name: 'group-crash' }),
      KafkaCluster.start({ nodes: 1, name: 'group-crash' }),
    ]);
    admin = await cluster.admin();
    await applyTopics(admin, configuredTopics('dev'));
    stream = new KafkaStream({ brokers: cluster.brokers, clientId: 'group-crash-drill' });
  });

  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await stream?.close();
    await admin?.disconnect();
    await destroyAll();
    await services?.stop();
  });

  it('reassigns the partitions of a SIGKILLed member to the others: 0 lost, 0 duplicate effects, lag back to 0', async () => {
    // Prepare: three consumer processes, one group per mapping, as Lambda's pollers share a mapping.
    const env = {
      CDP_KAFKA_BROKERS: cluster.brokers.join(','),
      CDP_SHARD_MAP: JSON.stringify(services.shardMap),
      CDP_REDIS_URL: services.redis?.url ?? '',
    };
    const members = Array.from({ length: MEMBERS }, () => startConsumerProcess(env));
    children.push(...members.map((m) => m.child));
    await waitFor(async () => (await groupMembers(admin, LOCAL_GROUP)).members === MEMBERS, {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: `${MEMBERS} members in ${LOCAL_GROUP}`,
    });
    const traffic = generateTraffic({
      events: EVENTS,
      customers: CUSTOMERS,
      seed: 47,
      customerPrefix: 'group',
    });
    const publisher = stream.publisher('group-crash-producer');
    const started = Date.now();
    const publishing = (async () => {
      for (let i = 0; i < traffic.length; i += 500) {
        await sleep(started + (i / RATE) * 1_000 - Date.now());
        await publisher.publish(LOCAL_TOPIC, traffic.slice(i, i + 500) as Envelope[]);
      }
    })();

    // Act: kill one member while batches are in flight.
    const victim = members[0];
    if (victim === undefined) throw new Error('no member');
    await waitFor(() => (victim.progress.at(-1)?.recordsCommitted ?? 0) >= 1_500, {
      timeoutMs: 60_000,
      description: 'the first member to commit 1,500 records',
    });
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await exited(victim.child)).toBe('SIGKILL');
    await waitFor(
      async () => {
        const group = await groupMembers(admin, LOCAL_GROUP);
        return group.members === MEMBERS - 1 && group.state === 'Stable';
      },
      { timeoutMs: 60_000, intervalMs: 100, description: 'the group to rebalance onto the survivors' },
    );
    const rebalanceMillis = Date.now() - killedAt;
    await publishing;
    await publisher.close();
    await waitFor(async () => (await totalLag(stream)) === 0, {
      timeoutMs: 120_000,
      intervalMs: 250,
      description: 'the surviving members to consume everything',
    });
    const caughtUpMillis = Date.now() - killedAt;
    for (const member of members.slice(1)) member.child.kill('SIGTERM');
    await Promise.all(members.slice(1).map((member) => exited(member.child)));

    // Assess
    const snapshot = await snapshotShards(services);
    const expected = expectedState(traffic);
    const mine = [...snapshot.customers].filter(([id]) => id.startsWith('group-'));
    console.info(
      `consumer group drill: ${MEMBERS} members, one SIGKILLed after committing ` +
        `${victim.progress.at(-1)?.recordsCommitted} records; group stable on ${MEMBERS - 1} members ` +
        `${rebalanceMillis} ms after the kill; lag 0 ${caughtUpMillis} ms after the kill; ` +
        `${snapshot.appliedEvents} events applied`,
    );
    expect(mine).toHaveLength(CUSTOMERS);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(EVENTS);
    expect(snapshot.appliedEvents).toBe(EVENTS);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(await indexMismatches(services.redis?.url ?? '', expected)).toEqual([]);
    expect(await totalLag(stream)).toBe(0);
  }, 240_000);
});
