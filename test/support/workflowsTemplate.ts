import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type EnvironmentName, loadEnvironmentConfig } from '../../lib/config/index.js';
import { STEP_FUNCTIONS_DIR } from '../../step-functions/definitions.js';
import { synthesize } from './synth.js';
import {
  actionsOf,
  only,
  type Resource,
  type Resources,
  type Statement,
  statementsOf,
} from './templateQueries.js';

export const ETL_STEPS = ['openBatch', 'extractLoad', 'validateShard', 'closeBatch'] as const;
export const RECONCILIATION_STEPS = [
  'reconcileIndex',
  'sweepIndex',
  'findEventGaps',
  'replayGaps',
  'report',
] as const;
export const pascal = (name: string): string => `${name.charAt(0).toUpperCase()}${name.slice(1)}`;

/** The `${Name}` substitutions a definition file uses, read independently of the construct. */
export const substitutionsIn = (file: string): string[] => {
  const text = readFileSync(join(STEP_FUNCTIONS_DIR, file), 'utf8');
  return [...new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1] ?? ''))].sort();
};

/** The top-level `TimeoutSeconds` of a definition file. */
export const definitionTimeoutSeconds = (file: string): number =>
  (JSON.parse(readFileSync(join(STEP_FUNCTIONS_DIR, file), 'utf8')) as { TimeoutSeconds: number })
    .TimeoutSeconds;

/** Every Lambda task resource of a definition: the `${Name}`s that must be function ARNs. */
export const taskSubstitutionsIn = (file: string): string[] =>
  substitutionsIn(file).filter((name) => name.endsWith('FunctionArn'));

export const WORKFLOW_VARIABLES = ['POWERTOOLS_SERVICE_NAME', 'NODE_OPTIONS'];

/** How EventBridge Scheduler writes a rate of whole minutes (CDK picks the largest whole unit). */
export const rateOf = (minutes: number): string => {
  if (minutes % 1_440 === 0) return `rate(${minutes / 1_440} day${minutes === 1_440 ? '' : 's'})`;
  if (minutes % 60 === 0) return `rate(${minutes / 60} hour${minutes === 60 ? '' : 's'})`;
  return `rate(${minutes} minute${minutes === 1 ? '' : 's'})`;
};

/** Every resource of the statements of `statements` that grant `action`, rendered as text. */
export const resourcesGranting = (statements: readonly Statement[], action: string): string[] =>
  statements
    .filter((s) => actionsOf(s).includes(action))
    .flatMap((s) => [s.Resource].flat())
    .map((r) => JSON.stringify(r));

/** The workflows and warehouse templates of one environment, with the look-ups their tests share. */
export function workflowsFixture(name: EnvironmentName) {
  const config = loadEnvironmentConfig(name);
  const {
    etl: etlConfig,
    reconciliation: reconciliationConfig,
    warehouse: warehouseConfig,
  } = config.workflows;
  const { workflows, warehouse, stage } = synthesize(name);
  const resourcesOf = (type: string) => Object.entries(workflows.findResources(type) as Resources);
  const machineOf = (machine: string): [string, Resource] => {
    const matches = resourcesOf('AWS::StepFunctions::StateMachine').filter(
      ([, r]) => r.Properties.StateMachineName === `cdp-${name}-${machine}`,
    );
    expect(matches).toHaveLength(1);
    return matches[0] as [string, Resource];
  };
  const [etlId, etlMachine] = machineOf('etl');
  const [reconciliationId] = machineOf('reconciliation');
  const functionOf = (fragment: string): [string, Resource] =>
    only(workflows, 'AWS::Lambda::Function', `${fragment}Function`);
  const variablesOf = (fragment: string): Record<string, unknown> =>
    (functionOf(fragment)[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const policyOf = (fragment: string): Statement[] =>
    statementsOf(workflows, `${fragment}FunctionServiceRoleDefaultPolicy`);
  const [topicId] = only(workflows, 'AWS::SNS::Topic');
  const policies = resourcesOf('AWS::IAM::Policy');
  const allStatements = policies.flatMap(
    ([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
  );
  const warehouseImport = (attribute: RegExp) => ({
    'Fn::ImportValue': expect.stringMatching(
      new RegExp(`^cdp-${name}-warehouse:.*Warehouse.*${attribute.source}`),
    ),
  });
  /** The warehouse cluster's ARN, built in this stack from the cluster imported from the warehouse stack. */
  const warehouseClusterArn = {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        `:rds:${config.region}:${config.account}:cluster:`,
        {
          'Fn::ImportValue': expect.stringMatching(
            new RegExp(`^cdp-${name}-warehouse:ExportsOutputRefWarehouseCluster`),
          ),
        },
      ],
    ],
  };
  return {
    config,
    etlConfig,
    reconciliationConfig,
    warehouseConfig,
    workflows,
    warehouse,
    stage,
    resourcesOf,
    machineOf,
    etlId,
    etlMachine,
    reconciliationId,
    functionOf,
    variablesOf,
    policyOf,
    topicId,
    policies,
    allStatements,
    warehouseImport,
    warehouseClusterArn,
  };
}
