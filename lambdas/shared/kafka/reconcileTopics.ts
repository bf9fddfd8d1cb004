import kafkajs, { type Admin } from 'kafkajs';
import type { KafkaLogger } from './createKafka.js';
import { KafkaAdminError, TopicOperationError } from './errors.js';
import {
  type DesiredTopic,
  durabilityFor,
  type ExistingTopic,
  planTopicChanges,
  type TopicAction,
} from './planTopicChanges.js';

// kafkajs is CommonJS; Node's ESM loader does not see these enums as named exports.
const { ConfigResourceTypes, ConfigSource } = kafkajs;

/** The part of the kafkajs admin client the topic manager uses; tests provide an in-memory one. */
export type TopicAdmin = Pick<
  Admin,
  | 'connect'
  | 'disconnect'
  | 'describeCluster'
  | 'listTopics'
  | 'fetchTopicMetadata'
  | 'describeConfigs'
  | 'createTopics'
  | 'createPartitions'
  | 'alterConfigs'
>;

export interface ReconcileResult {
  readonly created: readonly string[];
  readonly partitionsAdded: readonly string[];
  readonly reconfigured: readonly string[];
  readonly unchanged: readonly string[];
}

/** Runs `operation`, wrapping a failure with the operation name and the topics concerned. */
async function step<T>(operation: string, topics: readonly string[], run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error: unknown) {
    throw new TopicOperationError(operation, topics, { cause: error });
  }
}

const toRecord = (entries: ReadonlyArray<{ name: string; value: string }>): Record<string, string> =>
  Object.fromEntries(entries.map(({ name, value }) => [name, value]));

const toEntries = (configs: Readonly<Record<string, string>>): Array<{ name: string; value: string }> =>
  Object.entries(configs).map(([name, value]) => ({ name, value }));

/**
 * Describes the given topics that exist: partition count and the topic's own configuration overrides
 * (broker defaults are not overrides and are left out, so they are never pinned by a rewrite).
 *
 * @throws {TopicOperationError} when listing, metadata or configuration requests fail.
 */
export async function describeTopics(admin: TopicAdmin, names: readonly string[]): Promise<ExistingTopic[]> {
  const all = new Set(await step('listTopics', names, () => admin.listTopics()));
  const present = names.filter((name) => all.has(name));
  if (present.length === 0) return [];

  const metadata = await step('fetchTopicMetadata', present, () =>
    admin.fetchTopicMetadata({ topics: present }),
  );
  const described = await step('describeConfigs', present, () =>
    admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    }),
  );
  const overrides = new Map(
    described.resources.map((resource) => [
      resource.resourceName,
      toRecord(
        resource.configEntries
          .filter((entry) => entry.configSource === ConfigSource.TOPIC_CONFIG && !entry.isSensitive)
          .map((entry) => ({ name: entry.configName, value: entry.configValue })),
      ),
    ]),
  );
  return metadata.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.length,
    configs: overrides.get(topic.name) ?? {},
  }));
}

/**
 * Applies planned actions in three batches: create, rewrite configuration, add partitions. Adding
 * partitions is the one change that cannot be undone, so it goes last: if an earlier batch fails, the
 * stack's rollback finds the partition counts it left and can restore everything else.
 *
 * @throws {TopicOperationError} naming the operation and topics of the batch that failed.
 */
export async function applyTopicActions(admin: TopicAdmin, actions: readonly TopicAction[]): Promise<void> {
  const creates = actions.flatMap((a) => (a.kind === 'create' ? [a] : []));
  const growths = actions.flatMap((a) => (a.kind === 'addPartitions' ? [a] : []));
  const alters = actions.flatMap((a) => (a.kind === 'alterConfigs' ? [a] : []));

  if (creates.length > 0) {
    const created = await step(
      'createTopics',
      creates.map((a) => a.topic),
      () =>
        admin.createTopics({
          waitForLeaders: true,
          topics: creates.map((a) => ({
            topic: a.topic,
            numPartitions: a.partitions,
            replicationFactor: a.replicationFactor,
            configEntries: toEntries(a.configs),
          })),
        }),
    );
    // `false`: every topic already existed, so another writer raced this one; a new attempt re-plans.
    if (!created) {
      const topics = creates.map((a) => a.topic);
      throw new KafkaAdminError(`Topics ${topics.join(', ')} were created concurrently; plan again`, {
        context: { operation: 'createTopics', topics },
        retriable: true,
      });
    }
  }
  if (alters.length > 0) {
    await step(
      'alterConfigs',
      alters.map((a) => a.topic),
      () =>
        admin.alterConfigs({
          validateOnly: false,
          resources: alters.map((a) => ({
            type: ConfigResourceTypes.TOPIC,
            name: a.topic,
            configEntries: toEntries(a.configs),
          })),
        }),
    );
  }
  if (growths.length > 0) {
    await step(
      'createPartitions',
      growths.map((a) => a.topic),
      () =>
        admin.createPartitions({ topicPartitions: growths.map((a) => ({ topic: a.topic, count: a.to })) }),
    );
  }
}

/**
 * Brings the cluster's topics in line with `desired`: describe, plan, apply. Topics absent from
 * `desired` are never touched.
 *
 * @throws {PartitionShrinkError} when a desired partition count is below the current one (nothing applied).
 * @throws {TopicOperationError} when a Kafka request fails.
 */
export async function reconcileTopics(
  admin: TopicAdmin,
  desired: readonly DesiredTopic[],
  logger: KafkaLogger,
): Promise<ReconcileResult> {
  const cluster = await step('describeCluster', [], () => admin.describeCluster());
  const durability = durabilityFor(cluster.brokers.length);
  const existing = await describeTopics(
    admin,
    desired.map((t) => t.name),
  );
  const actions = planTopicChanges(desired, existing, durability);
  logger.info('Planned topic changes', { brokers: cluster.brokers.length, durability, existing, actions });
  await applyTopicActions(admin, actions);

  const touched = new Set(actions.map((a) => a.topic));
  const topicsOf = (kind: TopicAction['kind']): string[] =>
    actions.filter((a) => a.kind === kind).map((a) => a.topic);
  return {
    created: topicsOf('create'),
    partitionsAdded: topicsOf('addPartitions'),
    reconfigured: topicsOf('alterConfigs'),
    unchanged: desired.map((t) => t.name).filter((name) => !touched.has(name)),
  };
}
