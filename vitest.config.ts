import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Test files start real PostgreSQL/Redis processes and synthesize CDK apps: keep each in its own process.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
    // Metrics go to stdout as EMF in Lambda; in tests they would only drown the output.
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
    reporters: ['default'],
  },
});
