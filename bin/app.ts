#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { ConfigError, loadEnvironmentConfig } from '../lib/config/index.js';
import { applyNagChecks } from '../lib/nag.js';
import { PlatformStage } from '../lib/PlatformStage.js';

/** The only place that reads context: `-c env=<dev|uat|prod>` and optional `-c account=` / `-c region=`. */
const app = new App();
const optional = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value !== '' ? value : undefined;
};

try {
  const config = loadEnvironmentConfig(optional('env'), {
    account: optional('account'),
    region: optional('region'),
  });
  new PlatformStage(app, config.name, { config });
  applyNagChecks(app);
} catch (error: unknown) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
