import {
  type ConfigResourceTypes,
  ConfigSource,
  type DescribeConfigResponse,
  type IResourceConfig,
  type ITopicConfig,
  type ITopicPartitionConfig,
} from 'kafkajs';
import type { DesiredTopic } from '../../lambdas/shared/kafka/planTopicChanges.js';
import type { TopicAdmin } from '../../lambdas/shared/kafka/reconcileTopics.js';

/** The ARN of the cluster the topic manager is pointed at in these tests. */
export const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-dev/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab-2';
/** What MSK answers for the cluster's IAM bootstrap brokers. */
export const IAM_BROKERS =
  'b-1.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098,' +
  'b-3.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098';
export const EVENTS: DesiredTopic = { name: 'customer-events.v1', partitions: 12, retentionHours: 168 };
export const DLQ: DesiredTopic = { name: 'customer-events.v1.dlq', partitions: 3, retentionHours: 336 };

export interface FakeTopic {
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

/** The Kafka control plane cannot run here: an in-memory stand-in with the admin API's semantics. */
export class FakeAdmin implements TopicAdmin {
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
