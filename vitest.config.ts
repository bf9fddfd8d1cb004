import { defineConfig } from 'vitest/config';

/**
 * Drills that run several broker JVMs and consumer processes at once. Two of them at the same time on the
 * 2-core machines starve each other's brokers (coordinator loads time out, spill writes outlive their
 * deadlines): they run one after the other, after everything else.
 */
const HEAVY_DRILLS = [
  'test/drills/kafkaOutage.test.ts',
  'test/drills/kafkaBrokerLoss.test.ts',
  'test/drills/kafkaSpike.test.ts',
  'test/drills/kafkaNetworkPartition.test.ts',
  'test/drills/kafkaConsumerGroup.test.ts',
];

/**
 * Every test file but the drills waits mostly on its engines (PostgreSQL, Redis, a broker, a child process):
 * two run at once, where Vitest would run one on a 2-core machine. The drills measure recovery times
 * against stated bounds, so they run one at a time, after the rest.
 */
const SUITE_WORKERS = 2;

export default defineConfig({
  test: {
    // Test files start real PostgreSQL/Redis processes and synthesize CDK apps: keep each in its own process.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
    // Metrics go to stdout as EMF in Lambda; in tests they would only drown the output.
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: ['test/drills/**'],
          maxWorkers: SUITE_WORKERS,
        },
      },
      {
        extends: true,
        test: {
          name: 'drills',
          include: ['test/drills/**/*.test.ts'],
          exclude: HEAVY_DRILLS,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'kafka-drills',
          include: HEAVY_DRILLS,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
