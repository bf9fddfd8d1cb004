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

  it('refuses duplicate topics and unknown fields', () => {
    const base = variantOf('dev', (c) => {
      const first = c.streaming.topics[0];
      if (first) c.streaming.topics.push({ ...first });
      Object.assign(c.network, { natGateways: 2 });
    });

    const message = messageOf(() => loadEnvironmentConfig('dev', {}, base));

    expect(message).toMatch(/dev\.streaming\.topics\.2\.name: duplicate topic customer-events\.v1/);
    expect(message).toMatch(/dev\.network: Unrecognized key: "natGateways"/);
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
