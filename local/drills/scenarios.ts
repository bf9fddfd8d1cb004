import { runBadDeployment } from './badDeployment.js';
import { runConsumerCrash } from './consumerCrash.js';
import { runEtlFailure } from './etlFailure.js';
import { runKafkaOutage } from './kafkaOutage.js';
import { runNetworkPartition } from './networkPartition.js';
import { runRedisOutage } from './redisOutage.js';
import { runShardFailover } from './shardFailover.js';
import { runSlowShard } from './slowShard.js';
import type { ScenarioDefinition, ScenarioId } from './types.js';
import { runVolumeSpike } from './volumeSpike.js';

/** The nine scenarios of docs' failure table, in its order, each with its drill. */
export const SCENARIO_DEFINITIONS: readonly ScenarioDefinition[] = [
  { id: 'kafka-outage', section: 1, title: 'Kafka becomes unavailable', run: runKafkaOutage },
  { id: 'consumer-crash', section: 2, title: 'A consumer service crashes', run: runConsumerCrash },
  { id: 'shard-failover', section: 3, title: 'A database shard fails', run: runShardFailover },
  { id: 'redis-outage', section: 4, title: 'Redis (the secondary index) fails', run: runRedisOutage },
  { id: 'slow-shard', section: 5, title: 'One service becomes slow', run: runSlowShard },
  { id: 'volume-spike', section: 6, title: 'Message volume spikes suddenly', run: runVolumeSpike },
  { id: 'bad-deployment', section: 7, title: 'A deployment introduces a bug', run: runBadDeployment },
  {
    id: 'network-partition',
    section: 8,
    title: 'A network partition between services',
    run: runNetworkPartition,
  },
  { id: 'etl-failure', section: 9, title: 'The ETL pipeline fails', run: runEtlFailure },
];

export function scenarioById(id: string): ScenarioDefinition | undefined {
  return SCENARIO_DEFINITIONS.find((s) => s.id === (id as ScenarioId));
}
