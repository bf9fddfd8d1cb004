import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { synthesize } from '../support/synth.js';
import type { Resources } from '../support/templateQueries.js';

describe.each(ENVIRONMENT_NAMES)('Retention (%s)', (name) => {
  const { retention } = loadEnvironmentConfig(name);
  const environment = synthesize(name);
  const { stage } = environment;
  const deletionPolicy = retention.removalPolicy === 'retain' ? 'Retain' : 'Delete';

  it(`keeps the logs of the functions and of the HTTP API ${retention.logRetentionDays} days, ${deletionPolicy === 'Retain' ? 'retained' : 'deleted'} with their stack`, () => {
    // Prepare: the stacks whose log groups all follow `retention` (functions and the API's access log).
    const templates = [
      environment.consumer,
      environment.remediation,
      environment.query,
      environment.ingest,
      environment.operations,
      environment.api,
    ];
    // Act
    const logGroups = templates.flatMap((t) =>
      Object.values(t.findResources('AWS::Logs::LogGroup') as Resources),
    );
    // Assess
    expect(logGroups.length).toBeGreaterThanOrEqual(templates.length);
    for (const group of logGroups) {
      expect(group.Properties.RetentionInDays).toBe(retention.logRetentionDays);
      expect(group.DeletionPolicy).toBe(deletionPolicy);
    }
  });

  it(`${retention.terminationProtection ? 'protects' : 'does not protect'} the stateful stacks from termination, and never the stateless ones`, () => {
    expect(stage.streaming.terminationProtection).toBe(retention.terminationProtection);
    expect(stage.data.terminationProtection).toBe(retention.terminationProtection);
    expect(stage.warehouse.terminationProtection).toBe(retention.terminationProtection);
    for (const stack of [stage.consumer, stage.query, stage.ingest, stage.api, stage.workflows]) {
      expect(stack.terminationProtection).toBe(false);
    }
  });
});
