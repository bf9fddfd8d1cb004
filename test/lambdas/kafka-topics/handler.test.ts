import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import type { CdkCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import {
  createHandler,
  parseTopicRequest,
  physicalResourceIdOf,
} from '../../../lambdas/kafka-topics/handler.js';
import { parseBrokerString } from '../../../lambdas/shared/kafka/bootstrapBrokers.js';
import {
  BootstrapBrokersError,
  InvalidTopicRequestError,
  PartitionShrinkError,
  TopicOperationError,
} from '../../../lambdas/shared/kafka/errors.js';
import type { DesiredTopic } from '../../../lambdas/shared/kafka/planTopicChanges.js';
import type { TopicAdmin } from '../../../lambdas/shared/kafka/reconcileTopics.js';
import { kafkaPolicy } from '../../../lambdas/shared/resilience/named.js';
import { CLUSTER_ARN, DLQ, EVENTS, FakeAdmin, IAM_BROKERS } from '../../support/fakeTopicAdmin.js';

const HOURS = 3_600_000;

const FAST_POLICY = { attemptTimeoutMs: 2_000, retries: 2, initialDelayMs: 1, maxDelayMs: 2 };

const event = (
  requestType: 'Create' | 'Update' | 'Delete',
  topics: readonly DesiredTopic[],
): CdkCustomResourceEvent => {
  const ResourceProperties = {
    ServiceToken: 'arn:aws:lambda:eu-west-1:111111111111:function:provider',
    ClusterArn: CLUSTER_ARN,
    Topics: JSON.stringify(topics),
    TopicsHash: 'hash',
  };
  const common = {
    ServiceToken: ResourceProperties.ServiceToken,
    ResponseURL: 'https://example.invalid/response',
    StackId: 'arn:aws:cloudformation:eu-west-1:111111111111:stack/cdp-dev-streaming/1',
    RequestId: 'request-1',
    LogicalResourceId: 'Topics',
    ResourceType: 'Custom::KafkaTopics',
    ResourceProperties,
  };
  if (requestType === 'Create') return { ...common, RequestType: 'Create' };
  const PhysicalResourceId = physicalResourceIdOf(CLUSTER_ARN);
  if (requestType === 'Update') {
    return {
      ...common,
      RequestType: 'Update',
      PhysicalResourceId,
      OldResourceProperties: ResourceProperties,
    };
  }
  return { ...common, RequestType: 'Delete', PhysicalResourceId };
};

const kafkaMock = mockClient(KafkaClient);

describe('kafka-topics handler', () => {
  let admin: FakeAdmin;
  let createAdmin: ReturnType<typeof vi.fn<(brokers: readonly string[], region: string) => TopicAdmin>>;
  let handler: ReturnType<typeof createHandler>;

  beforeEach(() => {
    kafkaMock.reset();
    kafkaMock.on(GetBootstrapBrokersCommand, { ClusterArn: CLUSTER_ARN }).resolves({
      BootstrapBrokerStringSaslIam: IAM_BROKERS,
      BootstrapBrokerStringTls: 'b-1:9094',
    });
    admin = new FakeAdmin();
    createAdmin = vi.fn<(brokers: readonly string[], region: string) => TopicAdmin>(() => admin);
    handler = createHandler({
      kafkaClient: new KafkaClient({ region: 'eu-west-1' }),
      createAdmin,
      bootstrapPolicy: kafkaPolicy(FAST_POLICY),
      reconcilePolicy: kafkaPolicy(FAST_POLICY),
    });
  });

  afterEach(() => {
    kafkaMock.reset();
  });

  it('on Create makes every configured topic through the IAM brokers of the cluster', async () => {
    // Act
    const response = await handler(event('Create', [EVENTS, DLQ]));

    // Assess
    expect(createAdmin).toHaveBeenCalledWith(parseBrokerString(IAM_BROKERS), 'eu-west-1');
    expect(admin.topics.get(EVENTS.name)).toEqual({
      partitions: 12,
      replicationFactor: 3,
      configs: { 'retention.ms': String(168 * HOURS), 'min.insync.replicas': '2' },
    });
    expect(admin.topics.get(DLQ.name)).toEqual({
      partitions: 3,
      replicationFactor: 3,
      configs: { 'retention.ms': String(336 * HOURS), 'min.insync.replicas': '2' },
    });
    expect(response).toEqual({
      PhysicalResourceId: `${CLUSTER_ARN}/topics`,
      Data: { Created: `${EVENTS.name},${DLQ.name}`, PartitionsAdded: '', Reconfigured: '', Unchanged: '' },
    });
    expect(admin.connected).toBe(false);
  });

  it('on Update grows partitions and changes retention, keeping unrelated overrides', async () => {
    // Prepare
    admin.topics.set(EVENTS.name, {
      partitions: 6,
      replicationFactor: 3,
      configs: {
        'retention.ms': String(24 * HOURS),
        'min.insync.replicas': '2',
        'max.message.bytes': '2097152',
      },
    });
    admin.topics.set(DLQ.name, {
      partitions: 3,
      replicationFactor: 3,
      configs: { 'retention.ms': String(336 * HOURS), 'min.insync.replicas': '2' },
    });

    // Act
    const response = await handler(event('Update', [EVENTS, DLQ]));

    // Assess
    expect(admin.topics.get(EVENTS.name)).toEqual({
      partitions: 12,
      replicationFactor: 3,
      configs: {
        'retention.ms': String(168 * HOURS),
        'min.insync.replicas': '2',
        'max.message.bytes': '2097152',
      },
    });
    expect(response.Data).toEqual({
      Created: '',
      PartitionsAdded: EVENTS.name,
      Reconfigured: EVENTS.name,
      Unchanged: DLQ.name,
    });
    // Adding partitions cannot be undone, so it is the last change applied
    expect(admin.calls.filter((c) => ['alterConfigs', 'createPartitions'].includes(c))).toEqual([
      'alterConfigs',
      'createPartitions',
    ]);
  });

  it('on Update refuses to shrink a topic, names it, and changes nothing', async () => {
    // Prepare
    admin.topics.set(EVENTS.name, {
      partitions: 24,
      replicationFactor: 3,
      configs: { 'retention.ms': String(24 * HOURS) },
    });

    // Act
    const result = handler(event('Update', [EVENTS, DLQ]));

    // Assess
    await expect(result).rejects.toThrow(PartitionShrinkError);
    await expect(result).rejects.toThrow(/customer-events\.v1" has 24 partitions/);
    expect(admin.topics.has(DLQ.name)).toBe(false);
    expect(admin.topics.get(EVENTS.name)?.configs).toEqual({ 'retention.ms': String(24 * HOURS) });
    expect(admin.calls.filter((c) => c === 'describeCluster')).toHaveLength(1);
    expect(admin.connected).toBe(false);
  });

  it('on Delete keeps the topics and does not touch the cluster', async () => {
    // Prepare
    admin.topics.set(EVENTS.name, { partitions: 12, replicationFactor: 3, configs: {} });

    // Act
    const response = await handler(event('Delete', [EVENTS]));

    // Assess
    expect(response).toEqual({ PhysicalResourceId: `${CLUSTER_ARN}/topics` });
    expect(createAdmin).not.toHaveBeenCalled();
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)).toHaveLength(0);
    expect(admin.topics.has(EVENTS.name)).toBe(true);
  });

  it('repeats the whole reconciliation after a retriable Kafka error', async () => {
    // Prepare
    const notController = Object.assign(new Error('This is not the correct controller for this cluster'), {
      retriable: true,
    });
    admin.failures.set('createTopics', [notController]);

    // Act
    const response = await handler(event('Create', [EVENTS]));

    // Assess
    expect(admin.topics.has(EVENTS.name)).toBe(true);
    expect(admin.calls.filter((c) => c === 'createTopics')).toHaveLength(2);
    expect(response.Data).toMatchObject({ Created: EVENTS.name });
  });

  it('does not repeat a programming error', async () => {
    // Prepare
    admin.failures.set('listTopics', [new TypeError('cannot read properties of undefined')]);

    // Act
    const result = handler(event('Create', [EVENTS]));

    // Assess
    await expect(result).rejects.toThrow(TopicOperationError);
    await expect(result).rejects.toThrow(/Kafka listTopics failed for topic\(s\) customer-events\.v1/);
    expect(admin.calls.filter((c) => c === 'listTopics')).toHaveLength(1);
  });

  it('fails with a clear message when the cluster has no IAM listener', async () => {
    // Prepare
    kafkaMock.on(GetBootstrapBrokersCommand).resolves({ BootstrapBrokerStringTls: 'b-1:9094' });

    // Act
    const result = handler(event('Create', [EVENTS]));

    // Assess
    await expect(result).rejects.toThrow(BootstrapBrokersError);
    await expect(result).rejects.toThrow(/no IAM bootstrap brokers/);
    expect(createAdmin).not.toHaveBeenCalled();
  });

  it('rejects malformed topics before contacting AWS', async () => {
    // Prepare
    const bad = event('Create', [EVENTS]);
    bad.ResourceProperties.Topics = '[{"name":"has space","partitions":0,"retentionHours":1}]';

    // Act
    const result = handler(bad);

    // Assess
    await expect(result).rejects.toThrow(InvalidTopicRequestError);
    expect(kafkaMock.calls()).toHaveLength(0);
  });
});

describe('parseTopicRequest', () => {
  it('reads the cluster ARN and the topics JSON', () => {
    expect(parseTopicRequest({ ClusterArn: CLUSTER_ARN, Topics: JSON.stringify([EVENTS]) })).toEqual({
      clusterArn: CLUSTER_ARN,
      topics: [EVENTS],
    });
  });

  it('names the offending property', () => {
    expect(() => parseTopicRequest({ ClusterArn: 'nope', Topics: 'not json' })).toThrow(
      /ClusterArn: .*; Topics: must be a JSON array of topics/,
    );
  });
});
