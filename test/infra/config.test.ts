import { describe, expect, it } from 'vitest';
import { environments } from '../../lib/config/environments.js';
import {
  availabilityZonesOf,
  ConfigError,
  ENVIRONMENT_NAMES,
  type EnvironmentConfig,
  loadEnvironmentConfig,
} from '../../lib/config/index.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** A deep copy of a valid environment that a test may break in one place. */
const variantOf = (name: 'dev' | 'uat' | 'prod', mutate: (cfg: Mutable<EnvironmentConfig>) => void) => {
  const copy = structuredClone(environments[name]) as Mutable<EnvironmentConfig>;
  mutate(copy);
  return { ...environments, [name]: copy };
};

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error: unknown) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('loadEnvironmentConfig', () => {
  it.each(ENVIRONMENT_NAMES)('accepts the shipped %s configuration', (name) => {
    const config = loadEnvironmentConfig(name);

    expect(config.name).toBe(name);
    expect(config.availabilityZoneCount).toBe(3);
    expect(config.streaming.brokerCount % config.availabilityZoneCount).toBe(0);
  });

  it('gives prod at least 4 shards and 2 readers per shard', () => {
    const prod = loadEnvironmentConfig('prod');

    expect(prod.data.shardCount).toBeGreaterThanOrEqual(4);
    expect(prod.data.aurora.readersPerShard).toBeGreaterThanOrEqual(2);
    expect(prod.data.aurora.deletionProtection).toBe(true);
  });

  it('rejects an unknown environment and lists the valid ones', () => {
    expect(messageOf(() => loadEnvironmentConfig('staging'))).toBe(
      'Unknown environment "staging": expected one of dev, uat, prod',
    );
  });

  it('rejects a missing environment with the flag to pass', () => {
    expect(messageOf(() => loadEnvironmentConfig(undefined))).toContain('-c env=<dev|uat|prod>');
  });

  it('names the field when the broker count is not a multiple of the AZ count', () => {
    const base = variantOf('uat', (c) => {
      c.streaming.brokerCount = 4;
    });

    expect(messageOf(() => loadEnvironmentConfig('uat', {}, base))).toContain(
      'uat.streaming.brokerCount: must be a multiple of availabilityZoneCount (3), got 4',
    );
  });

  it('names the field when there are no shards', () => {
    const base = variantOf('dev', (c) => {
      c.data.shardCount = 0;
    });

    expect(messageOf(() => loadEnvironmentConfig('dev', {}, base))).toContain(
      'dev.data.shardCount: must be at least 1',
    );
  });

  it('refuses prod with fewer than 4 shards or without deletion protection, reporting every field', () => {
    const base = variantOf('prod', (c) => {
      c.data.shardCount = 2;
      c.data.aurora.deletionProtection = false;
    });

    const message = messageOf(() => loadEnvironmentConfig('prod', {}, base));

    expect(message).toContain('prod.data.shardCount: prod needs at least 4 shards');
    expect(message).toContain('prod.data.aurora.deletionProtection: must be true in prod');
  });

  it('holds an environment marked production to the production rules, whatever its name', () => {
    const base = variantOf('uat', (c) => {
      c.production = true;
    });

    const message = messageOf(() => loadEnvironmentConfig('uat', {}, base));

    expect(message).toContain('uat.data.aurora.readersPerShard: prod needs at least 2 readers per shard');
    expect(message).toContain('uat.data.aurora.retainOnDelete: must be true in prod');
    expect(message).toContain('uat.retention.removalPolicy: must be retain in prod');
    expect(message).toContain('uat.retention.terminationProtection: must be true in prod');
  });

  it('refuses prod deleting its logs with its stacks or without termination protection', () => {
    const base = variantOf('prod', (c) => {
      c.retention.removalPolicy = 'destroy';
      c.retention.terminationProtection = false;
    });

    const message = messageOf(() => loadEnvironmentConfig('prod', {}, base));

    expect(message).toContain('prod.retention.removalPolicy: must be retain in prod');
    expect(message).toContain('prod.retention.terminationProtection: must be true in prod');
  });

  it('names the retention fields when the policy is unknown, the log retention not one CloudWatch accepts, or the block is missing', () => {
    const invalid = variantOf('dev', (c) => {
      Reflect.set(c.retention, 'removalPolicy', 'snapshot');
      c.retention.logRetentionDays = 45;
    });
    const missing = variantOf('uat', (c) => {
      Reflect.deleteProperty(c, 'retention');
    });

    const message = messageOf(() => loadEnvironmentConfig('dev', {}, invalid));

    expect(message).toContain('dev.retention.removalPolicy');
    expect(message).toContain('dev.retention.logRetentionDays: must be a CloudWatch Logs retention (1, 3, 5');
    expect(messageOf(() => loadEnvironmentConfig('uat', {}, missing))).toContain('uat.retention');
  });

  it('refuses a shard without a replica to fail over to', () => {
    const base = variantOf('dev', (c) => {
      c.data.aurora.readersPerShard = 0;
    });

    expect(messageOf(() => loadEnvironmentConfig('dev', {}, base))).toContain(
      'dev.data.aurora.readersPerShard',
    );
  });

  it('refuses more replicas than there are AZs to place them in', () => {
    const base = variantOf('prod', (c) => {
      c.data.cache.replicasPerNodeGroup = 3;
    });

    expect(messageOf(() => loadEnvironmentConfig('prod', {}, base))).toContain(
      'prod.data.cache.replicasPerNodeGroup: primary plus 3 replicas cannot sit in distinct AZs with only 3 AZs',
    );
  });

  it('refuses a retry topic that is not a topic, or is the events topic itself', () => {
    const unknown = variantOf('dev', (c) => Object.assign(c.consumer, { retryTopic: 'orders.retry' }));
    const same = variantOf('dev', (c) => Object.assign(c.consumer, { retryTopic: c.consumer.topic }));

    expect(messageOf(() => loadEnvironmentConfig('dev', {}, unknown))).toMatch(
      /dev\.consumer\.retryTopic: must be one of streaming\.topics .*got orders\.retry/,
    );
    expect(messageOf(() => loadEnvironmentConfig('dev', {}, same))).toMatch(
      /dev\.consumer\.retryTopic: must differ from consumer\.topic/,
    );
  });

  it('refuses duplicate topics and unknown fields', () => {
    const base = variantOf('dev', (c) => {
      const first = c.streaming.topics[0];
      if (first) c.streaming.topics.push({ ...first });
      Object.assign(c.network, { natGateways: 2 });
    });

    const message = messageOf(() => loadEnvironmentConfig('dev', {}, base));

    expect(message).toMatch(/dev\.streaming\.topics\.3\.name: duplicate topic customer-events\.v1/);
    expect(message).toMatch(/dev\.network: Unrecognized key: "natGateways"/);
  });

  it.each(ENVIRONMENT_NAMES)('points the %s consumer at a declared topic, within Lambda limits', (name) => {
    const { consumer, streaming } = loadEnvironmentConfig(name);

    expect(streaming.topics.map((t) => t.name)).toContain(consumer.topic);
    expect(consumer.maximumPollers).toBeGreaterThanOrEqual(consumer.minimumPollers);
    expect(consumer.timeoutSeconds).toBeLessThanOrEqual(900);
  });

  it('gives prod more pollers than dev, and at most one per partition of its topic', () => {
    const dev = loadEnvironmentConfig('dev');
    const prod = loadEnvironmentConfig('prod');
    const partitionsOf = (config: EnvironmentConfig) =>
      config.streaming.topics.find((t) => t.name === config.consumer.topic)?.partitions ?? 0;

    expect(prod.consumer.minimumPollers).toBeGreaterThan(dev.consumer.minimumPollers);
    expect(prod.consumer.maximumPollers).toBeGreaterThan(dev.consumer.maximumPollers);
    expect(prod.consumer.maximumPollers).toBeLessThanOrEqual(partitionsOf(prod));
  });

  it('names consumer.topic when it is not one of the declared topics', () => {
    const base = variantOf('uat', (c) => {
      c.consumer.topic = 'orders.v1';
    });

    expect(messageOf(() => loadEnvironmentConfig('uat', {}, base))).toContain(
      'uat.consumer.topic: must be one of streaming.topics (customer-events.v1, customer-events.v1.retry, customer-events.v1.dlq), got orders.v1',
    );
  });

  it('names consumer.maximumPollers when it is below minimumPollers', () => {
    const base = variantOf('prod', (c) => {
      c.consumer.minimumPollers = 10;
      c.consumer.maximumPollers = 5;
    });

    expect(messageOf(() => loadEnvironmentConfig('prod', {}, base))).toContain(
      'prod.consumer.maximumPollers: must be >= minimumPollers (10)',
    );
  });

  it('sizes the pollers by ~5 MB/s per poller and at most one per partition, naming each field', () => {
    // Prepare: prod's 100 MB/s peak needs 20 pollers; 15 MB/s steady needs 3.
    const base = variantOf('prod', (c) => {
      c.consumer.throughputMBps = { steady: 30, peak: 200 };
    });
    const tooMany = variantOf('dev', (c) => {
      c.consumer.maximumPollers = 13;
      c.consumer.scaling.ceiling = 13;
    });
    // Act
    const undersized = messageOf(() => loadEnvironmentConfig('prod', {}, base));
    const overPartitions = messageOf(() => loadEnvironmentConfig('dev', {}, tooMany));
    // Assess
    expect(undersized).toContain('prod.consumer.minimumPollers: must be >= 6: 30 MB/s steady');
    expect(undersized).toContain('prod.consumer.maximumPollers: must be >= 40: 200 MB/s at peak');
    expect(overPartitions).toContain(
      'dev.consumer.maximumPollers: must be <= 12, the partitions of customer-events.v1',
    );
  });

  it('keeps the scaler within the pollers and its thresholds apart, naming each field', () => {
    const base = variantOf('uat', (c) => {
      c.consumer.scaling.ceiling = 13;
      c.consumer.scaling.lowLag = c.consumer.scaling.highLag;
      c.consumer.scaling.cooldownSeconds = 30;
    });
    const message = messageOf(() => loadEnvironmentConfig('uat', {}, base));
    expect(message).toContain(
      'uat.consumer.scaling.ceiling: must lie between minimumPollers (1) and maximumPollers (12)',
    );
    expect(message).toContain('uat.consumer.scaling.lowLag: must be below highLag');
    expect(message).toContain('uat.consumer.scaling.cooldownSeconds: must be at least 60');
  });

  it('refuses consumer settings outside what Lambda accepts, naming every field', () => {
    const base = variantOf('dev', (c) => {
      c.consumer.batchSize = 20_000;
      c.consumer.maxBatchingWindowSeconds = 301;
      c.consumer.minimumPollers = 0;
      c.consumer.retryAttempts = -1;
      c.consumer.maxRecordAgeSeconds = 30;
      c.consumer.timeoutSeconds = 901;
      c.consumer.consumerGroup = 'has spaces';
    });

    const message = messageOf(() => loadEnvironmentConfig('dev', {}, base));

    expect(message).toContain('dev.consumer.batchSize: must be at most 10000');
    expect(message).toContain('dev.consumer.maxBatchingWindowSeconds: must be at most 300 (5 minutes)');
    expect(message).toContain('dev.consumer.minimumPollers: must be at least 1');
    expect(message).toContain('dev.consumer.retryAttempts: must be at least 0');
    expect(message).toContain('dev.consumer.maxRecordAgeSeconds: must be at least 60');
    expect(message).toContain('dev.consumer.timeoutSeconds: must be at most 900 (15 minutes)');
    expect(message).toContain('dev.consumer.consumerGroup: must be 1-200 characters');
  });

  it.each(ENVIRONMENT_NAMES)('throttles the %s query API within the account quota', (name) => {
    const { api } = loadEnvironmentConfig(name);

    expect(api.throttleRatePerSecond).toBeGreaterThan(0);
    expect(api.throttleRatePerSecond).toBeLessThanOrEqual(10_000);
    expect(api.throttleBurst).toBeLessThanOrEqual(5_000);
  });

  it('lets prod take more API traffic than uat, and uat more than dev', () => {
    const dev = loadEnvironmentConfig('dev').api;
    const uat = loadEnvironmentConfig('uat').api;
    const prod = loadEnvironmentConfig('prod').api;

    expect(prod.throttleRatePerSecond).toBeGreaterThan(uat.throttleRatePerSecond);
    expect(uat.throttleRatePerSecond).toBeGreaterThan(dev.throttleRatePerSecond);
    expect(prod.throttleBurst).toBeGreaterThan(dev.throttleBurst);
  });

  it('names the API throttling fields when they exceed the account quota or are missing', () => {
    const above = variantOf('uat', (c) => {
      c.api.throttleRatePerSecond = 20_000;
      c.api.throttleBurst = 0.5;
    });
    const missing = variantOf('dev', (c) => {
      Reflect.deleteProperty(c, 'api');
    });

    const message = messageOf(() => loadEnvironmentConfig('uat', {}, above));

    expect(message).toContain('uat.api.throttleRatePerSecond: must be at most 10000 (the account quota)');
    expect(message).toContain('uat.api.throttleBurst');
    expect(messageOf(() => loadEnvironmentConfig('dev', {}, missing))).toContain('dev.api');
  });

  it.each(ENVIRONMENT_NAMES)('alarms on the %s spillover well before its bound refuses requests', (name) => {
    const { ingest } = loadEnvironmentConfig(name);

    expect(ingest.spillDepthAlarm).toBeGreaterThan(0);
    expect(ingest.spillDepthAlarm).toBeLessThanOrEqual(ingest.spilloverMaxDepth / 2);
  });

  it('names the ingest fields when the depth alarm is not below the bound, or the block is missing', () => {
    const late = variantOf('prod', (c) => {
      c.ingest.spillDepthAlarm = c.ingest.spilloverMaxDepth;
    });
    const unbounded = variantOf('uat', (c) => {
      c.ingest.spilloverMaxDepth = 0;
    });
    const missing = variantOf('dev', (c) => {
      Reflect.deleteProperty(c, 'ingest');
    });

    expect(messageOf(() => loadEnvironmentConfig('prod', {}, late))).toContain(
      'prod.ingest.spillDepthAlarm: must be below spilloverMaxDepth (100000)',
    );
    expect(messageOf(() => loadEnvironmentConfig('uat', {}, unbounded))).toContain(
      'uat.ingest.spilloverMaxDepth: must be at least 1',
    );
    expect(messageOf(() => loadEnvironmentConfig('dev', {}, missing))).toContain('dev.ingest');
  });

  it('names the producer fields when a codec is unknown or a request size is out of range', () => {
    const snappy = variantOf('uat', (c) => {
      Reflect.set(c.ingest.producer, 'compression', 'snappy');
    });
    const empty = variantOf('prod', (c) => {
      c.ingest.producer.maxRecordsPerRequest = 0;
    });

    expect(messageOf(() => loadEnvironmentConfig('uat', {}, snappy))).toContain(
      'uat.ingest.producer.compression',
    );
    expect(messageOf(() => loadEnvironmentConfig('prod', {}, empty))).toContain(
      'prod.ingest.producer.maxRecordsPerRequest: must be at least 1',
    );
  });

  it.each(ENVIRONMENT_NAMES)(
    'lets the %s warehouse fall behind by more than one ETL run before alarming',
    (name) => {
      const { etl } = loadEnvironmentConfig(name).workflows;

      expect(etl.stalenessAlarmSeconds).toBeGreaterThan(etl.intervalMinutes * 60 + etl.settleSeconds);
      expect(etl.recoveryIntervalMinutes).toBeLessThan(etl.intervalMinutes);
    },
  );

  it('runs the prod ETL every 15 minutes and the dev ETL hourly', () => {
    expect(loadEnvironmentConfig('prod').workflows.etl.intervalMinutes).toBe(15);
    expect(loadEnvironmentConfig('dev').workflows.etl.intervalMinutes).toBe(60);
  });

  it('names the staleness threshold when it does not exceed the ETL interval plus the settle time', () => {
    const base = variantOf('prod', (c) => {
      c.workflows.etl.stalenessAlarmSeconds = c.workflows.etl.intervalMinutes * 60;
    });

    expect(messageOf(() => loadEnvironmentConfig('prod', {}, base))).toContain(
      'prod.workflows.etl.stalenessAlarmSeconds: must exceed the ETL interval plus the settle time (1020 s)',
    );
  });

  it('names the recovery interval when the staleness it publishes could not beat the threshold', () => {
    const base = variantOf('uat', (c) => {
      c.workflows.etl.recoveryIntervalMinutes = 120;
    });

    expect(messageOf(() => loadEnvironmentConfig('uat', {}, base))).toContain(
      'uat.workflows.etl.recoveryIntervalMinutes: must be shorter than stalenessAlarmSeconds (7200 s)',
    );
  });

  it('refuses workflow settings outside their bounds, naming every field', () => {
    const base = variantOf('dev', (c) => {
      c.workflows.etl.intervalMinutes = 0;
      c.workflows.etl.settleSeconds = -1;
      c.workflows.etl.maxRetries = 11;
      c.workflows.warehouse.readers = 0;
      c.workflows.logRetentionDays = 45;
    });

    const message = messageOf(() => loadEnvironmentConfig('dev', {}, base));

    expect(message).toContain('dev.workflows.etl.intervalMinutes: must be at least 1 (minute)');
    expect(message).toContain('dev.workflows.etl.settleSeconds: must be at least 0');
    expect(message).toContain('dev.workflows.etl.maxRetries: must be at most 10');
    expect(message).toContain('dev.workflows.warehouse.readers: the warehouse needs at least one replica');
    expect(message).toContain('dev.workflows.logRetentionDays: must be a CloudWatch Logs retention (1, 3, 5');
  });

  it('names the cross-field workflow rules: capacity, zones, alarm window', () => {
    const base = variantOf('dev', (c) => {
      c.workflows.warehouse.minCapacityAcu = 8;
      c.workflows.warehouse.readers = 3;
      c.workflows.etl.recoveryIntervalMinutes = 150;
      c.workflows.etl.maxRetries = 10;
    });

    const message = messageOf(() => loadEnvironmentConfig('dev', {}, base));

    expect(message).toContain('dev.workflows.warehouse.maxCapacityAcu: must be >= minCapacityAcu (8)');
    expect(message).toContain(
      'dev.workflows.warehouse.readers: writer plus 3 readers cannot sit in distinct AZs with only 3 AZs',
    );
    expect(message).toContain(
      'dev.workflows.etl.maxRetries: (maxRetries + 1) recovery intervals make 1650 minutes',
    );
  });

  it('names the workflows block when it is missing', () => {
    const missing = variantOf('uat', (c) => {
      Reflect.deleteProperty(c, 'workflows');
    });

    expect(messageOf(() => loadEnvironmentConfig('uat', {}, missing))).toContain('uat.workflows');
  });

  it('applies account and region overrides from context and validates them', () => {
    const config = loadEnvironmentConfig('uat', { account: '123456789012', region: 'us-east-2' });

    expect(config.account).toBe('123456789012');
    expect(availabilityZonesOf(config)).toEqual(['us-east-2a', 'us-east-2b', 'us-east-2c']);
    expect(messageOf(() => loadEnvironmentConfig('uat', { account: 'abc' }))).toContain(
      'uat.account: must be a 12-digit AWS account id',
    );
  });
});
