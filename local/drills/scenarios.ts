import type { DrillOptions, DrillResult, Progress, ScenarioDefinition, ScenarioId } from './types.js';

type Runner = (options: DrillOptions, progress: Progress) => Promise<DrillResult>;

/**
 * A drill's runner, loaded when it runs: a drill pulls in the CDK app, the Kafka client and the service
 * managers, which `list`, usage errors and `--aws` never need.
 */
const lazy =
  <M>(load: () => Promise<M>, pick: (module: M) => Runner): Runner =>
  async (options, progress) =>
    pick(await load())(options, progress);

/** The nine scenarios of docs' failure table, in its order, each with its drill. */
export const SCENARIO_DEFINITIONS: readonly ScenarioDefinition[] = [
  {
    id: 'kafka-outage',
    section: 1,
    title: 'Kafka becomes unavailable',
    run: lazy(
      () => import('./kafkaOutage.js'),
      (m) => m.runKafkaOutage,
    ),
  },
  {
    id: 'consumer-crash',
    section: 2,
    title: 'A consumer service crashes',
    run: lazy(
      () => import('./consumerCrash.js'),
      (m) => m.runConsumerCrash,
    ),
  },
  {
    id: 'shard-failover',
    section: 3,
    title: 'A database shard fails',
    run: lazy(
      () => import('./shardFailover.js'),
      (m) => m.runShardFailover,
    ),
  },
  {
    id: 'redis-outage',
    section: 4,
    title: 'Redis (the secondary index) fails',
    run: lazy(
      () => import('./redisOutage.js'),
      (m) => m.runRedisOutage,
    ),
  },
  {
    id: 'slow-shard',
    section: 5,
    title: 'One service becomes slow',
    run: lazy(
      () => import('./slowShard.js'),
      (m) => m.runSlowShard,
    ),
  },
  {
    id: 'volume-spike',
    section: 6,
    title: 'Message volume spikes suddenly',
    run: lazy(
      () => import('./volumeSpike.js'),
      (m) => m.runVolumeSpike,
    ),
  },
  {
    id: 'bad-deployment',
    section: 7,
    title: 'A deployment introduces a bug',
    run: lazy(
      () => import('./badDeployment.js'),
      (m) => m.runBadDeployment,
    ),
  },
  {
    id: 'network-partition',
    section: 8,
    title: 'A network partition between services',
    run: lazy(
      () => import('./networkPartition.js'),
      (m) => m.runNetworkPartition,
    ),
  },
  {
    id: 'etl-failure',
    section: 9,
    title: 'The ETL pipeline fails',
    run: lazy(
      () => import('./etlFailure.js'),
      (m) => m.runEtlFailure,
    ),
  },
];

export function scenarioById(id: string): ScenarioDefinition | undefined {
  return SCENARIO_DEFINITIONS.find((s) => s.id === (id as ScenarioId));
}
