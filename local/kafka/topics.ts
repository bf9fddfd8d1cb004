import type { Admin } from 'kafkajs';
import type { DesiredTopic } from '../../lambdas/shared/kafka/planTopicChanges.js';
import { type ReconcileResult, reconcileTopics } from '../../lambdas/shared/kafka/reconcileTopics.js';
import { environments } from '../../lib/config/environments.js';
import type { EnvironmentName } from '../../lib/config/index.js';

/** A logger that drops everything: the reconciler's plan is returned to the caller instead. */
const quiet = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

/** The topics an environment's configuration declares (`dev` unless told), as the topic manager wants them. */
export function configuredTopics(environment: EnvironmentName = 'dev'): DesiredTopic[] {
  return environments[environment].streaming.topics.map((topic) => ({ ...topic }));
}

/**
 * Creates or grows `topics` on a real cluster through the platform's own topic reconciler (the code the
 * `kafka-topics` custom resource runs on MSK): replication factor and min ISR follow the cluster's size,
 * a partition decrease is refused.
 * @throws {PartitionShrinkError} when a topic would lose partitions.
 * @throws {TopicOperationError} when a Kafka request fails.
 */
export function applyTopics(admin: Admin, topics: readonly DesiredTopic[]): Promise<ReconcileResult> {
  return reconcileTopics(admin, topics, quiet);
}
