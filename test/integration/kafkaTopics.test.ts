import { type Admin, ConfigResourceTypes } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartitionShrinkError } from '../../lambdas/shared/kafka/errors.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { destroyAll, waitFor } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { kafkaReady } from '../support/kafka.js';

async function topicState(admin: Admin, topic: string) {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
  });
  const configs = Object.fromEntries(
    (described.resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]),
  );
  const partitions = metadata.topics[0]?.partitions ?? [];
  return {
    partitions: partitions.length,
    replicationFactors: [...new Set(partitions.map((p) => p.replicas.length))],
    minIsr: configs['min.insync.replicas'],
    retentionMs: configs['retention.ms'],
    uncleanElection: configs['unclean.leader.election.enable'],
  };
}

describe.skipIf(!kafkaReady)('topic reconciler on a real 3-node KRaft cluster', () => {
  let cluster: KafkaCluster;
  let admin: Admin;

  beforeAll(async () => {
    cluster = await KafkaCluster.start({ nodes: 3, name: 'topics' });
    admin = await cluster.admin();
  });

  afterAll(async () => {
    await admin?.disconnect();
    await destroyAll();
  });

  it("creates the environment's topics with RF 3, min ISR 2, no unclean election and its retention", async () => {
    // Prepare
    const desired = configuredTopics('dev');
    // Act
    const result = await applyTopics(admin, desired);
    // Assess
    expect([...result.created].sort()).toEqual(desired.map((t) => t.name).sort());
    for (const topic of desired) {
      const state = await topicState(admin, topic.name);
      expect(state).toEqual({
        partitions: topic.partitions,
        replicationFactors: [3],
        minIsr: '2',
        retentionMs: String(topic.retentionHours * 3_600_000),
        uncleanElection: 'false',
      });
    }
  });

  it('changes nothing when run again with the same configuration', async () => {
    const desired = configuredTopics('dev');
    const result = await applyTopics(admin, desired);
    expect(result.created).toEqual([]);
    expect(result.partitionsAdded).toEqual([]);
    expect(result.reconfigured).toEqual([]);
    expect([...result.unchanged].sort()).toEqual(desired.map((t) => t.name).sort());
  });

  it('adds partitions online when the configuration raises a count (12 → 24)', async () => {
    // Prepare
    const desired = configuredTopics('dev').map((topic) =>
      topic.name === 'customer-events.v1' ? { ...topic, partitions: 24 } : topic,
    );
    // Act
    const result = await applyTopics(admin, desired);
    // Assess
    expect(result.partitionsAdded).toEqual(['customer-events.v1']);
    // The controller took the change; each broker's metadata follows within moments, and a metadata
    // request goes to any one of them: wait until ten reads in a row agree.
    let agreeing = 0;
    await waitFor(
      async () => {
        const seen = (await topicState(admin, 'customer-events.v1')).partitions;
        agreeing = seen === 24 ? agreeing + 1 : 0;
        return agreeing >= 10;
      },
      { timeoutMs: 30_000, intervalMs: 100, description: 'every broker to report 24 partitions' },
    );
    const state = await topicState(admin, 'customer-events.v1');
    expect(state.partitions).toBe(24);
    expect(state.replicationFactors).toEqual([3]);
  });

  it('refuses a partition decrease with an error naming the topic and changes nothing', async () => {
    // Prepare: 24 partitions now; the configuration asks for 12 again, and a retention change alongside.
    const desired = configuredTopics('dev').map((topic) => ({
      ...topic,
      retentionHours: topic.retentionHours + 1,
    }));
    // Act
    const attempt = applyTopics(admin, desired);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(PartitionShrinkError);
    await expect(attempt).rejects.toThrow(/customer-events\.v1.*24.*12/);
    const state = await topicState(admin, 'customer-events.v1');
    expect(state.partitions).toBe(24);
    const retry = await topicState(admin, 'customer-events.v1.retry');
    expect(retry.retentionMs).toBe(String(24 * 7 * 3_600_000));
  });
});
