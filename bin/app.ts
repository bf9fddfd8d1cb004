#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { ConfigError, ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../lib/config/index.js';
import { applyNagChecks } from '../lib/nag.js';
import { PlatformStage } from '../lib/PlatformStage.js';

/**
 * The only place that reads context: `-c env=<dev|uat|prod>` and optional `-c account=` / `-c region=`.
 * `-c env=all` synthesizes every environment into one cloud assembly, a stage each: the functions are
 * bundled once and their assets shared, where three separate synths would bundle them three times.
 */
const app = new App();
const optional = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value !== '' ? value : undefined;
};

try {
  const selected = optional('env');
  const overrides = { account: optional('account'), region: optional('region') };
  for (const name of selected === 'all' ? ENVIRONMENT_NAMES : [selected]) {
    const config = loadEnvironmentConfig(name, overrides);
    new PlatformStage(app, config.name, { config });
  }
  applyNagChecks(app);
} catch (error: unknown) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
