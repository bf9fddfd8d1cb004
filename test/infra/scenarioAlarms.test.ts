import { describe, expect, it } from 'vitest';
import { type EnvironmentName, loadEnvironmentConfig } from '../../lib/config/index.js';
import { FAILURE_SCENARIOS } from '../../lib/constructs/scenarioAlarmName.js';
import { alarmsOf } from '../support/metricContract.js';
import { stackTemplates, synthesize } from '../support/synth.js';

/** Alarms before the scenario alarms were added (22 in the issue, plus the lag scaler's three). */
const ALARMS_BEFORE = 25;

describe.each(['dev', 'uat', 'prod'] as const)('%s scenario alarms', (name: EnvironmentName) => {
  const config = loadEnvironmentConfig(name);
  const templates = stackTemplates(synthesize(name));
  const alarms = alarmsOf(templates);
  const named = (fragment: string) => alarms.filter((alarm) => alarm.alarmName?.includes(fragment));

  it('keeps every earlier alarm and adds the scenario alarms: 2 broker, 1 per shard, 2 Redis, 5 consumer', () => {
    expect(alarms).toHaveLength(ALARMS_BEFORE + 2 + config.data.shardCount + 2 + 5);
  });

  it.each(Object.entries(FAILURE_SCENARIOS))(
    'names at least one alarm after scenario %s (%s)',
    (scenario, slug) => {
      expect(named(`-s${scenario}-${slug}-`).length).toBeGreaterThan(0);
    },
  );

  it('takes every scenario threshold from the configuration', () => {
    const thresholds = config.scenarioAlarms;
    const threshold = (fragment: string) => named(fragment).map((alarm) => alarm.threshold);
    expect(threshold('s1-kafka-unavailable-offline-partitions')).toEqual([thresholds.offlinePartitions]);
    expect(threshold('s1-kafka-unavailable-under-replicated')).toEqual([
      thresholds.underReplicatedPartitions,
    ]);
    expect(threshold('s3-shard-failure-write-failures')).toEqual([thresholds.shardWriteFailures]);
    expect(threshold('s3-shard-failure-replica-lag')).toEqual(
      Array(config.data.shardCount).fill(thresholds.auroraReplicaLagMillis),
    );
    expect(threshold('s4-redis-failure-idempotency-bypassed')).toEqual([thresholds.idempotencyBypassed]);
    expect(threshold('s4-redis-failure-redis-memory')).toEqual([thresholds.redisMemoryPercent]);
    expect(threshold('s4-redis-failure-redis-evictions')).toEqual([thresholds.redisEvictions]);
    expect(threshold('s5-slow-service-shard-breakers')).toEqual([thresholds.breakerOpenings]);
    expect(threshold('s6-volume-spike-events-lag')).toEqual([thresholds.volumeSpikeLag]);
    expect(threshold('s8-network-partition-retry-topic-lag')).toEqual([thresholds.retryTopicLag]);
  });

  it('watches every broker for under-replicated partitions and every shard for replica lag', () => {
    const [underReplicated] = named('under-replicated');
    expect(underReplicated?.metrics.map((m) => m.dimensions['Broker ID'])).toEqual(
      Array.from({ length: config.streaming.brokerCount }, (_, i) => String(i + 1)),
    );
    expect(named('replica-lag-shard-').map((alarm) => alarm.alarmName)).toEqual(
      Array.from(
        { length: config.data.shardCount },
        (_, i) => `cdp-${name}-s3-shard-failure-replica-lag-shard-${i}`,
      ),
    );
  });
});
