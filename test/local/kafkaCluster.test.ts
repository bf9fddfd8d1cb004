import { existsSync } from 'node:fs';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptsConnections, destroyAll, isProcessAlive } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { kafkaReady } from '../support/kafka.js';

const { Kafka } = kafkajs;

describe.skipIf(!kafkaReady)('KafkaCluster: throwaway KRaft clusters on loopback', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await KafkaCluster.start({ nodes: 3, name: 'harness' });
  });

  afterAll(async () => {
    await destroyAll();
  });

  it('starts three combined broker + controller nodes on free loopback ports, all listed by the cluster', async () => {
    // Act
    const admin = await cluster.admin();
    const described = await admin.describeCluster().finally(() => admin.disconnect());
    // Assess
    expect(described.brokers.map((broker) => broker.nodeId).sort()).toEqual([1, 2, 3]);
    for (const address of cluster.brokers) expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(cluster.brokers).not.toContain('127.0.0.1:9092');
    expect(described.clusterId).toBe(cluster.clusterId);
  });

  it('refuses to create a topic by producing to it, and keeps a record acknowledged by all in-sync replicas', async () => {
    // Prepare
    const client = new Kafka(cluster.clientConfig('harness-test'));
    const producer = client.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } });
    await producer.connect();
    // Act
    const unknownTopic = producer.send({ topic: 'never-created', messages: [{ value: 'x' }], acks: -1 });
    // Assess
    await expect(unknownTopic).rejects.toThrow(/does not host this topic-partition|not exist|UNKNOWN_TOPIC/i);
    await producer.disconnect();
  });

  it('kills a node (SIGKILL), restarts it on its data and sees it back in the ISR of every partition', async () => {
    // Prepare
    const admin = await cluster.admin();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: 'harness.isr', numPartitions: 3, replicationFactor: 3 }],
    });
    await admin.disconnect();
    const node = cluster.node(2);
    const pid = node.pid;
    // Act
    await node.kill();
    // Assess
    expect(pid !== undefined && isProcessAlive(pid)).toBe(false);
    expect(node.isRunning()).toBe(false);
    // Act
    await cluster.restart(2);
    await cluster.waitForFullIsr('harness.isr');
    // Assess
    const after = await cluster.admin();
    const metadata = await after
      .fetchTopicMetadata({ topics: ['harness.isr'] })
      .finally(() => after.disconnect());
    for (const partition of metadata.topics[0]?.partitions ?? []) {
      expect([...partition.isr].sort()).toEqual([1, 2, 3]);
    }
  });

  it('pauses a node (SIGSTOP) so it holds connections without answering, and resumes it (SIGCONT)', async () => {
    // Prepare
    const node = cluster.node(3);
    const port = Number(node.internalAddress.split(':')[1]);
    // Act
    node.pause();
    // Assess: the kernel still accepts on its socket, but the broker answers nothing.
    expect(node.isPaused()).toBe(true);
    expect(await acceptsConnections(port)).toBe(true);
    const client = new Kafka({
      ...cluster.clientConfig('harness-paused', { brokers: [node.internalAddress] }),
      requestTimeout: 1_000,
      retry: { retries: 0 },
    });
    const admin = client.admin();
    await expect(admin.connect().then(() => admin.describeCluster())).rejects.toThrow();
    await admin.disconnect().catch(() => undefined);
    // Act
    node.resume();
    // Assess
    expect(node.isPaused()).toBe(false);
    await cluster.waitForBrokers(3);
  });

  it('stops a node gracefully (SIGTERM) and removes every process and file on destroy', async () => {
    // Act
    await cluster.node(1).stop();
    // Assess
    expect(cluster.node(1).isRunning()).toBe(false);
    const pids = cluster.nodes.flatMap((node) => (node.pid === undefined ? [] : [node.pid]));
    // Act
    await cluster.destroy();
    // Assess
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
    expect(existsSync(cluster.dir)).toBe(false);
  });
});
