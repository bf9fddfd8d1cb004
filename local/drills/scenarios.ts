import type { DrillOptions, DrillResult, Progress, ScenarioDefinition, ScenarioId } from './types.js';

type Runner = (options: DrillOptions, progress: Progress) => Promise<DrillResult>;

/**
 * A scenario whose drill is loaded when it runs: a drill pulls in the CDK app, the Kafka client and the
 * service managers, which `list`, usage errors and `--aws` never need.
 */
const scenario = (
  id: ScenarioId,
  section: number,
  title: string,
  load: () => Promise<Runner>,
): ScenarioDefinition => ({
  id,
  section,
  title,
  run: async (options, progress) => (await load())(options, progress),
});

/** The nine scenarios of docs' failure table, in its order, each with its drill. */
export const SCENARIO_DEFINITIONS: readonly ScenarioDefinition[] = [
  scenario(
    'kafka-outage',
    1,
    'Kafka becomes unavailable',
    async () => (await import('./kafkaOutage.js')).runKafkaOutage,
  ),
  scenario(
    'consumer-crash',
    2,
    'A consumer service crashes',
    async () => (await import('./consumerCrash.js')).runConsumerCrash,
  ),
  scenario(
    'shard-failover',
    3,
    'A database shard fails',
    async () => (await import('./shardFailover.js')).runShardFailover,
  ),
  scenario(
    'redis-outage',
    4,
    'Redis (the secondary index) fails',
    async () => (await import('./redisOutage.js')).runRedisOutage,
  ),
  scenario(
    'slow-shard',
    5,
    'One service becomes slow',
    async () => (await import('./slowShard.js')).runSlowShard,
  ),
  scenario(
    'volume-spike',
    6,
    'Message volume spikes suddenly',
    async () => (await import('./volumeSpike.js')).runVolumeSpike,
  ),
  scenario(
    'bad-deployment',
    7,
    'A deployment introduces a bug',
    async () => (await import('./badDeployment.js')).runBadDeployment,
  ),
  scenario(
    'network-partition',
    8,
    'A network partition between services',
    async () => (await import('./networkPartition.js')).runNetworkPartition,
  ),
  scenario(
    'etl-failure',
    9,
    'The ETL pipeline fails',
    async () => (await import('./etlFailure.js')).runEtlFailure,
  ),
];

export function scenarioById(id: string): ScenarioDefinition | undefined {
  return SCENARIO_DEFINITIONS.find((s) => s.id === (id as ScenarioId));
}
