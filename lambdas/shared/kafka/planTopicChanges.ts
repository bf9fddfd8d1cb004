import { type PartitionShrink, PartitionShrinkError } from './errors.js';

/** A topic as the platform configuration wants it. */
export interface DesiredTopic {
  readonly name: string;
  readonly partitions: number;
  readonly retentionHours: number;
}

/** A topic as the cluster describes it. `configs` holds only the topic's own (dynamic) overrides. */
export interface ExistingTopic {
  readonly name: string;
  readonly partitions: number;
  readonly configs: Readonly<Record<string, string>>;
}

/** Durability settings every managed topic gets, derived from the cluster size. */
export interface TopicDurability {
  readonly replicationFactor: number;
  readonly minInsyncReplicas: number;
}

export type TopicAction =
  | {
      readonly kind: 'create';
      readonly topic: string;
      readonly partitions: number;
      readonly replicationFactor: number;
      readonly configs: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'addPartitions'; readonly topic: string; readonly from: number; readonly to: number }
  | {
      readonly kind: 'alterConfigs';
      readonly topic: string;
      /** The complete set of overrides to write: Kafka's AlterConfigs replaces, it does not merge. */
      readonly configs: Readonly<Record<string, string>>;
      readonly changed: readonly string[];
    };

/** Three copies survive the loss of one AZ (brokers are spread evenly over three). */
export const TARGET_REPLICATION_FACTOR = 3;
/** With acks=all, a write needs two copies: one broker may be down without blocking producers. */
export const TARGET_MIN_INSYNC_REPLICAS = 2;

const MILLIS_PER_HOUR = 3_600_000;

/**
 * Replication settings for a cluster of `brokerCount` brokers: the targets above, reduced on clusters
 * too small to hold them so that producers with acks=all can still write while one broker is down.
 *
 * @throws {RangeError} when `brokerCount` is not a positive integer.
 */
export function durabilityFor(brokerCount: number): TopicDurability {
  if (!Number.isInteger(brokerCount) || brokerCount < 1) {
    throw new RangeError(`brokerCount must be a positive integer, got ${brokerCount}`);
  }
  const replicationFactor = Math.min(TARGET_REPLICATION_FACTOR, brokerCount);
  return {
    replicationFactor,
    minInsyncReplicas: Math.max(1, Math.min(TARGET_MIN_INSYNC_REPLICAS, replicationFactor - 1)),
  };
}

/** The topic-level configuration the platform manages for `topic`; other overrides are left alone. */
export function managedConfigs(topic: DesiredTopic, durability: TopicDurability): Record<string, string> {
  return {
    'retention.ms': String(topic.retentionHours * MILLIS_PER_HOUR),
    'min.insync.replicas': String(durability.minInsyncReplicas),
  };
}

/**
 * Compares the desired topics with those the cluster has and lists the changes that converge them:
 * create missing topics, add partitions, rewrite changed configuration. Topics the configuration no
 * longer names are kept untouched (deleting a topic deletes its data).
 *
 * @throws {PartitionShrinkError} naming every topic whose desired partition count is below the current one;
 *   no action is planned then, so a refused change never applies halfway.
 */
export function planTopicChanges(
  desired: readonly DesiredTopic[],
  existing: readonly ExistingTopic[],
  durability: TopicDurability,
): TopicAction[] {
  const byName = new Map(existing.map((topic) => [topic.name, topic]));
  const shrinks: PartitionShrink[] = [];
  const actions: TopicAction[] = [];

  for (const topic of desired) {
    const configs = managedConfigs(topic, durability);
    const current = byName.get(topic.name);
    if (current === undefined) {
      actions.push({
        kind: 'create',
        topic: topic.name,
        partitions: topic.partitions,
        replicationFactor: durability.replicationFactor,
        configs,
      });
      continue;
    }
    if (topic.partitions < current.partitions) {
      shrinks.push({ topic: topic.name, current: current.partitions, desired: topic.partitions });
      continue;
    }
    if (topic.partitions > current.partitions) {
      actions.push({
        kind: 'addPartitions',
        topic: topic.name,
        from: current.partitions,
        to: topic.partitions,
      });
    }
    const changed = Object.keys(configs).filter((key) => current.configs[key] !== configs[key]);
    if (changed.length > 0) {
      actions.push({
        kind: 'alterConfigs',
        topic: topic.name,
        configs: { ...current.configs, ...configs },
        changed,
      });
    }
  }

  if (shrinks.length > 0) throw new PartitionShrinkError(shrinks);
  return actions;
}
