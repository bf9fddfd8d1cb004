import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import type { CdkCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type ConfigResourceTypes,
  ConfigSource,
  type DescribeConfigResponse,
  type IResourceConfig,
  type ITopicConfig,
  type ITopicPartitionConfig,
  Kafka,
  logLevel,
} from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import {
  createHandler,
  parseTopicRequest,
  physicalResourceIdOf,
} from '../../lambdas/kafka-topics/handler.js';
import { getIamBootstrapBrokers, parseBrokerString } from '../../lambdas/shared/kafka/bootstrapBrokers.js';
import {
  createKafka,
  KAFKA_RETRY,
  type KafkaLogger,
  kafkaConfig,
  kafkaLogCreator,
  REQUEST_TIMEOUT_MS,
} from '../../lambdas/shared/kafka/createKafka.js';
import {
  BootstrapBrokersError,
  InvalidTopicRequestError,
  isRetriable,
  PartitionShrinkError,
  TopicOperationError,
} from '../../lambdas/shared/kafka/errors.js';
import {
  type DesiredTopic,
  durabilityFor,
  type ExistingTopic,
  planTopicChanges,
} from '../../lambdas/shared/kafka/planTopicChanges.js';
import { kafkaPolicy } from '../../lambdas/shared/kafka/policies.js';
import type { TopicAdmin } from '../../lambdas/shared/kafka/reconcileTopics.js';

const HOURS = 3_600_000;
const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-dev/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab-2';
const IAM_BROKERS =
  'b-1.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098,' +
  'b-3.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098';
const EVENTS: DesiredTopic = { name: 'customer-events.v1', partitions: 12, retentionHours: 168 };
const DLQ: DesiredTopic = { name: 'customer-events.v1.dlq', partitions: 3, retentionHours: 336 };
const RF3 = durabilityFor(3);

describe('planTopicChanges', () => {
  it('creates a missing topic with replication factor 3, its retention and min.insync.replicas=2', () => {
    // Act
    const actions = planTopicChanges([EVENTS], [], RF3);

    // Assess
    expect(actions).toEqual([
      {
        kind: 'create',
        topic: 'customer-events.v1',
        partitions: 12,
        replicationFactor: 3,
        configs: { 'retention.ms': String(168 * HOURS), 'min.insync.replicas': '2' },
      },
    ]);
  });

  it('adds partitions when the configuration asks for more', () => {
    // Prepare
    const existing: ExistingTopic[] = [
      {
        name: EVENTS.name,
        partitions: 6,
        configs: { 'retention.ms': String(168 * HOURS), 'min.insync.replicas': '2' },
      },
    ];

    // Act
    const actions = planTopicChanges([EVENTS], existing, RF3);

    // Assess
    expect(actions).toEqual([{ kind: 'addPartitions', topic: EVENTS.name, from: 6, to: 12 }]);
  });

  it('refuses to shrink a topic, names it, and plans nothing else', () => {
    // Prepare: the DLQ is missing and would be created, but the shrink must stop everything
    const existing: ExistingTopic[] = [{ name: EVENTS.name, partitions: 24, configs: {} }];

    // Act
    const plan = (): unknown => planTopicChanges([EVENTS, DLQ], existing, RF3);

    // Assess
    expect(plan).toThrow(PartitionShrinkError);
    expect(plan).toThrow(/Topic "customer-events\.v1" has 24 partitions but the configuration asks for 12/);
    try {
      plan();
    } catch (error: unknown) {
      expect(error).toBeInstanceOf(PartitionShrinkError);
      if (error instanceof PartitionShrinkError) {
        expect(error.shrinks).toEqual([{ topic: EVENTS.name, current: 24, desired: 12 }]);
        expect(error.retriable).toBe(false);
        expect(error.name).toBe('PartitionShrinkError');
      }
    }
  });

  it('rewrites the configuration when retention changes, keeping the topic’s other overrides', () => {
    // Prepare
    const existing: ExistingTopic[] = [
      {
        name: EVENTS.name,
        partitions: 12,
        configs: {
          'retention.ms': String(24 * HOURS),
          'min.insync.replicas': '2',
          'max.message.bytes': '2097152',
        },
      },
    ];

    // Act
    const actions = planTopicChanges([EVENTS], existing, RF3);

    // Assess: AlterConfigs replaces all overrides, so the untouched one must be written back too
    expect(actions).toEqual([
      {
        kind: 'alterConfigs',
        topic: EVENTS.name,
        configs: {
          'retention.ms': String(168 * HOURS),
          'min.insync.replicas': '2',
          'max.message.bytes': '2097152',
        },
        changed: ['retention.ms'],
      },
    ]);
  });

  it('plans nothing when the cluster already matches the configuration', () => {
    // Prepare
    const existing: ExistingTopic[] = [EVENTS, DLQ].map((t) => ({
      name: t.name,
      partitions: t.partitions,
      configs: { 'retention.ms': String(t.retentionHours * HOURS), 'min.insync.replicas': '2' },
    }));

    // Act
    const actions = planTopicChanges([EVENTS, DLQ], existing, RF3);

    // Assess
    expect(actions).toEqual([]);
  });

  it('leaves topics the configuration does not name alone', () => {
    // Act
    const actions = planTopicChanges([], [{ name: 'legacy', partitions: 1, configs: {} }], RF3);

    // Assess
    expect(actions).toEqual([]);
  });

  it.each([
    [1, 1, 1],
    [2, 2, 1],
    [3, 3, 2],
    [6, 3, 2],
  ])('on %i brokers uses replication factor %i and min.insync.replicas %i', (brokers, rf, isr) => {
    expect(durabilityFor(brokers)).toEqual({ replicationFactor: rf, minInsyncReplicas: isr });
  });

  it('rejects a broker count that is not a positive integer', () => {
    expect(() => durabilityFor(0)).toThrow(RangeError);
  });
});

interface FakeTopic {
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

/** The Kafka control plane cannot run here: an in-memory stand-in with the admin API's semantics. */
class FakeAdmin implements TopicAdmin {
  public readonly topics = new Map<string, FakeTopic>();
  public readonly calls: string[] = [];
  public connected = false;
  /** Errors thrown by the next calls of the named method, in order. */
  public readonly failures = new Map<string, unknown[]>();

  public constructor(public readonly brokerCount = 3) {}

  private record(method: string): void {
    this.calls.push(method);
    const next = this.failures.get(method)?.shift();
    if (next !== undefined) throw next;
  }

  public async connect(): Promise<void> {
    this.record('connect');
    this.connected = true;
  }

  public async disconnect(): Promise<void> {
    this.calls.push('disconnect');
    this.connected = false;
  }

  public async describeCluster(): Promise<{
    brokers: Array<{ nodeId: number; host: string; port: number }>;
    controller: number | null;
    clusterId: string;
  }> {
    this.record('describeCluster');
    const brokers = Array.from({ length: this.brokerCount }, (_, i) => ({
      nodeId: i + 1,
      host: `b-${i + 1}`,
      port: 9098,
    }));
    return { brokers, controller: 1, clusterId: 'fake' };
  }

  public async listTopics(): Promise<string[]> {
    this.record('listTopics');
    return [...this.topics.keys(), '__consumer_offsets'];
  }

  public async fetchTopicMetadata(options?: { topics: string[] }): Promise<{
    topics: Array<{
      name: string;
      partitions: Array<{
        partitionErrorCode: number;
        partitionId: number;
        leader: number;
        replicas: number[];
        isr: number[];
      }>;
    }>;
  }> {
    this.record('fetchTopicMetadata');
    return {
      topics: (options?.topics ?? []).map((name) => ({
        name,
        partitions: Array.from({ length: this.topic(name).partitions }, (_, partitionId) => ({
          partitionErrorCode: 0,
          partitionId,
          leader: 1,
          replicas: [1, 2, 3],
          isr: [1, 2, 3],
        })),
      })),
    };
  }

  public async describeConfigs(configs: {
    resources: Array<{ type: ConfigResourceTypes; name: string }>;
    includeSynonyms: boolean;
  }): Promise<DescribeConfigResponse> {
    this.record('describeConfigs');
    const entry = (configName: string, configValue: string, configSource: ConfigSource) => ({
      configName,
      configValue,
      configSource,
      isDefault: configSource === ConfigSource.DEFAULT_CONFIG,
      isSensitive: false,
      readOnly: false,
      configSynonyms: [],
    });
    return {
      throttleTime: 0,
      resources: configs.resources.map(({ name, type }) => ({
        resourceName: name,
        resourceType: type,
        errorCode: 0,
        errorMessage: '',
        configEntries: [
          ...Object.entries(this.topic(name).configs).map(([k, v]) => entry(k, v, ConfigSource.TOPIC_CONFIG)),
          // Broker defaults are reported too; they must never be pinned as topic overrides.
          entry('cleanup.policy', 'delete', ConfigSource.DEFAULT_CONFIG),
          entry('segment.bytes', '1073741824', ConfigSource.STATIC_BROKER_CONFIG),
        ],
      })),
    };
  }

  public async createTopics(options: { topics: ITopicConfig[]; waitForLeaders?: boolean }): Promise<boolean> {
    this.record('createTopics');
    for (const t of options.topics) {
      this.topics.set(t.topic, {
        partitions: t.numPartitions ?? 1,
        replicationFactor: t.replicationFactor ?? 1,
        configs: Object.fromEntries((t.configEntries ?? []).map((e) => [e.name, e.value])),
      });
    }
    return true;
  }

  public async createPartitions(options: { topicPartitions: ITopicPartitionConfig[] }): Promise<boolean> {
    this.record('createPartitions');
    for (const { topic, count } of options.topicPartitions) this.topic(topic).partitions = count;
    return true;
  }

  public async alterConfigs(options: { validateOnly: boolean; resources: IResourceConfig[] }): Promise<void> {
    this.record('alterConfigs');
    // Like Kafka's (non-incremental) AlterConfigs: the given entries replace all overrides.
    for (const r of options.resources) {
      this.topic(r.name).configs = Object.fromEntries(r.configEntries.map((e) => [e.name, e.value]));
    }
  }

  private topic(name: string): FakeTopic {
    const topic = this.topics.get(name);
    if (topic === undefined) throw new Error(`unknown topic ${name}`);
    return topic;
  }
}

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

describe('getIamBootstrapBrokers', () => {
  afterEach(() => {
    kafkaMock.reset();
  });

  it('splits the IAM broker string on commas', async () => {
    // Prepare
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .resolves({ BootstrapBrokerStringSaslIam: ' b-1:9098,b-2:9098 ,,b-3:9098' });

    // Act
    const brokers = await getIamBootstrapBrokers(new KafkaClient({ region: 'eu-west-1' }), CLUSTER_ARN);

    // Assess
    expect(brokers).toEqual(['b-1:9098', 'b-2:9098', 'b-3:9098']);
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)[0]?.args[0].input).toEqual({
      ClusterArn: CLUSTER_ARN,
    });
  });

  it('marks throttling as retriable and access denied as not', async () => {
    // Prepare
    const client = new KafkaClient({ region: 'eu-west-1' });
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
    const denied = Object.assign(new Error('not authorized'), {
      name: 'ForbiddenException',
      $metadata: { httpStatusCode: 403 },
    });
    kafkaMock.on(GetBootstrapBrokersCommand).rejectsOnce(throttled).rejectsOnce(denied);

    // Act
    const first = await getIamBootstrapBrokers(client, CLUSTER_ARN).catch((e: unknown) => e);
    const second = await getIamBootstrapBrokers(client, CLUSTER_ARN).catch((e: unknown) => e);

    // Assess
    expect(first).toBeInstanceOf(BootstrapBrokersError);
    expect(isRetriable(first)).toBe(true);
    expect(isRetriable(second)).toBe(false);
  });
});

describe('createKafka', () => {
  const options = {
    brokers: parseBrokerString(IAM_BROKERS),
    clientId: 'cdp-topic-manager',
    region: 'eu-west-1',
  };

  it('connects with TLS and SASL OAUTHBEARER to the IAM brokers', () => {
    // Act
    const config = kafkaConfig(options);

    // Assess
    expect(config.ssl).toBe(true);
    expect(config.sasl?.mechanism).toBe('oauthbearer');
    expect(config.brokers).toEqual([
      'b-1.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098',
      'b-2.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098',
      'b-3.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098',
    ]);
    expect(config.clientId).toBe('cdp-topic-manager');
    expect(config.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
    expect(config.retry).toEqual(KAFKA_RETRY);
  });

  it('presents a token signed for the cluster region on every authentication', async () => {
    // Prepare
    const tokenProvider = vi.fn(async (region: string) => ({ token: `signed-for-${region}` }));
    const config = kafkaConfig({ ...options, tokenProvider });
    const sasl = config.sasl;
    if (sasl === undefined || !('oauthBearerProvider' in sasl)) throw new Error('expected OAUTHBEARER');

    // Act
    const first = await sasl.oauthBearerProvider();
    const second = await sasl.oauthBearerProvider();

    // Assess
    expect(first).toEqual({ value: 'signed-for-eu-west-1' });
    expect(second).toEqual(first);
    expect(tokenProvider).toHaveBeenCalledTimes(2);
  });

  it('refuses an empty broker list', () => {
    expect(() => kafkaConfig({ ...options, brokers: [] })).toThrow(RangeError);
  });

  it('builds a client without connecting', () => {
    expect(createKafka(options)).toBeInstanceOf(Kafka);
  });

  it('routes kafkajs logs to the structured logger by level', () => {
    // Prepare
    const logger: KafkaLogger = { error: vi.fn(), warn: vi.fn(), info: vi.fn(), debug: vi.fn() };
    const log = kafkaLogCreator(logger)(logLevel.WARN);
    const entry = (level: logLevel, message: string) => ({
      namespace: 'Connection',
      level,
      label: 'x',
      log: { message, timestamp: 't', broker: 'b-1:9098' },
    });

    // Act
    log(entry(logLevel.ERROR, 'boom'));
    log(entry(logLevel.WARN, 'careful'));

    // Assess
    expect(logger.error).toHaveBeenCalledWith('boom', {
      kafka: { namespace: 'Connection', timestamp: 't', broker: 'b-1:9098' },
    });
    expect(logger.warn).toHaveBeenCalledWith(
      'careful',
      expect.objectContaining({ kafka: expect.any(Object) }),
    );
  });
});
