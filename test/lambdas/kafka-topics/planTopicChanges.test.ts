import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { PartitionShrinkError } from '../../../lambdas/shared/kafka/errors.js';
import {
  durabilityFor,
  type ExistingTopic,
  planTopicChanges,
} from '../../../lambdas/shared/kafka/planTopicChanges.js';
import { DLQ, EVENTS } from '../../support/fakeTopicAdmin.js';

const HOURS = 3_600_000;
const RF3 = durabilityFor(3);

describe('planTopicChanges', () => {
  it('creates a missing topic with replication factor 3, its retention and min.insync.replicas=2', () => {
    // Act
    const actions = planTopicChanges([EVENTS], [], RF3);

    // Assess
    expect(actions).toEqual([
      {
        kind: 'create',
        topic: 'customer-events.v1',
        partitions: 12,
        replicationFactor: 3,
        configs: { 'retention.ms': String(168 * HOURS), 'min.insync.replicas': '2' },
      },
    ]);
  });

  it('adds partitions when the configuration asks for more', () => {
    // Prepare
    const existing: ExistingTopic[] = [
      {
        name: EVENTS.name,
        partitions: 6,
        configs: { 'retention.ms': String(168 * HOURS), 'min.insync.replicas': '2' },
      },
    ];

    // Act
    const actions = planTopicChanges([EVENTS], existing, RF3);

    // Assess
    expect(actions).toEqual([{ kind: 'addPartitions', topic: EVENTS.name, from: 6, to: 12 }]);
  });

  it('refuses to shrink a topic, names it, and plans nothing else', () => {
    // Prepare: the DLQ is missing and would be created, but the shrink must stop everything
    const existing: ExistingTopic[] = [{ name: EVENTS.name, partitions: 24, configs: {} }];

    // Act
    const plan = (): unknown => planTopicChanges([EVENTS, DLQ], existing, RF3);

    // Assess
    expect(plan).toThrow(PartitionShrinkError);
    expect(plan).toThrow(/Topic "customer-events\.v1" has 24 partitions but the configuration asks for 12/);
    try {
      plan();
    } catch (error: unknown) {
      expect(error).toBeInstanceOf(PartitionShrinkError);
      if (error instanceof PartitionShrinkError) {
        expect(error.shrinks).toEqual([{ topic: EVENTS.name, current: 24, desired: 12 }]);
        expect(error.retriable).toBe(false);
        expect(error.name).toBe('PartitionShrinkError');
      }
    }
  });

  it('rewrites the configuration when retention changes, keeping the topic’s other overrides', () => {
    // Prepare
    const existing: ExistingTopic[] = [
      {
        name: EVENTS.name,
        partitions: 12,
        configs: {
          'retention.ms': String(24 * HOURS),
          'min.insync.replicas': '2',
          'max.message.bytes': '2097152',
        },
      },
    ];

    // Act
    const actions = planTopicChanges([EVENTS], existing, RF3);

    // Assess: AlterConfigs replaces all overrides, so the untouched one must be written back too
    expect(actions).toEqual([
      {
        kind: 'alterConfigs',
        topic: EVENTS.name,
        configs: {
          'retention.ms': String(168 * HOURS),
          'min.insync.replicas': '2',
          'max.message.bytes': '2097152',
        },
        changed: ['retention.ms'],
      },
    ]);
  });

  it('plans nothing when the cluster already matches the configuration', () => {
    // Prepare
    const existing: ExistingTopic[] = [EVENTS, DLQ].map((t) => ({
      name: t.name,
      partitions: t.partitions,
      configs: { 'retention.ms': String(t.retentionHours * HOURS), 'min.insync.replicas': '2' },
    }));

    // Act
    const actions = planTopicChanges([EVENTS, DLQ], existing, RF3);

    // Assess
    expect(actions).toEqual([]);
  });

  it('leaves topics the configuration does not name alone', () => {
    // Act
    const actions = planTopicChanges([], [{ name: 'legacy', partitions: 1, configs: {} }], RF3);

    // Assess
    expect(actions).toEqual([]);
  });

  it.each([
    [1, 1, 1],
    [2, 2, 1],
    [3, 3, 2],
    [6, 3, 2],
  ])('on %i brokers uses replication factor %i and min.insync.replicas %i', (brokers, rf, isr) => {
    expect(durabilityFor(brokers)).toEqual({ replicationFactor: rf, minInsyncReplicas: isr });
  });

  it('rejects a broker count that is not a positive integer', () => {
    expect(() => durabilityFor(0)).toThrow(RangeError);
  });
});
