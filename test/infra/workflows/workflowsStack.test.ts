import { join } from 'node:path';
import { FileSystem } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REPLAY_GROUP_PREFIX } from '../../../lambdas/shared/replay/KafkaEventLog.js';
import { ENVIRONMENT_NAMES } from '../../../lib/config/index.js';
import { EVENT_LOG_GROUP_PREFIX } from '../../../lib/stacks/WorkflowsStack.js';
import { STEP_FUNCTIONS_DIR } from '../../../step-functions/definitions.js';
import { actionsOf, only, referencedId, statementsOf } from '../../support/templateQueries.js';

import {
  definitionTimeoutSeconds,
  ETL_STEPS,
  pascal,
  RECONCILIATION_STEPS,
  substitutionsIn,
  taskSubstitutionsIn,
  workflowsFixture,
} from '../../support/workflowsTemplate.js';

describe('consumer group prefixes', () => {
  it('grants the prefix the event log code joins its throw-away groups with', () => {
    expect(EVENT_LOG_GROUP_PREFIX).toBe(DEFAULT_REPLAY_GROUP_PREFIX);
  });
});

describe.each(ENVIRONMENT_NAMES)('Workflows and warehouse stacks (%s)', (name) => {
  const {
    config,
    etlConfig,
    reconciliationConfig,
    workflows,
    stage,
    resourcesOf,
    machineOf,
    etlId,
    reconciliationId,
    functionOf,
    topicId,
    allStatements,
  } = workflowsFixture(name);

  describe('stacks', () => {
    it(`names the stateless cdp-${name}-workflows and the stateful cdp-${name}-warehouse`, () => {
      expect(stage.workflows.stackName).toBe(`cdp-${name}-workflows`);
      expect(stage.workflows.terminationProtection).toBe(false);
      expect(stage.warehouse.stackName).toBe(`cdp-${name}-warehouse`);
      expect(stage.warehouse.terminationProtection).toBe(name === 'prod');
    });

    it('outputs both state machine ARNs and the replay function name', () => {
      const [replayId] = functionOf('EventReplay');
      workflows.hasOutput('EtlStateMachineArn', { Value: { Ref: etlId } });
      workflows.hasOutput('ReconciliationStateMachineArn', { Value: { Ref: reconciliationId } });
      workflows.hasOutput('ReplayFunctionName', { Value: { Ref: replayId } });
    });
  });

  describe.each([
    { machine: 'etl', file: 'etl.asl.json', steps: ETL_STEPS, prefix: 'Etl' },
    {
      machine: 'reconciliation',
      file: 'reconciliation.asl.json',
      steps: RECONCILIATION_STEPS,
      prefix: 'Reconciliation',
    },
  ])('$machine state machine', ({ machine, file, steps, prefix }) => {
    const [, resource] = machineOf(machine);
    const substitutions = resource.Properties.DefinitionSubstitutions as Record<string, unknown>;

    it(`deploys ${file} itself, with a value for every substitution the file uses and no other`, () => {
      const asset = resource.Properties.DefinitionS3Location as { Key: string };

      expect(resource.Properties.DefinitionString).toBeUndefined();
      expect(asset.Key).toBe(`${FileSystem.fingerprint(join(STEP_FUNCTIONS_DIR, file))}.json`);
      expect(Object.keys(substitutions).sort()).toEqual(substitutionsIn(file));
      expect(resource.Properties.StateMachineType).toBe('STANDARD');
    });

    it(`bounds every execution by the file's own TimeoutSeconds, within the shortest schedule interval`, () => {
      const interval = machine === 'etl' ? etlConfig.intervalMinutes : reconciliationConfig.intervalMinutes;

      expect(definitionTimeoutSeconds(file)).toBeGreaterThan(0);
      expect(definitionTimeoutSeconds(file)).toBeLessThanOrEqual(interval * 60);
    });

    it('binds each Lambda task substitution to the function of that step export', () => {
      const byExport = Object.fromEntries(
        steps.map((step) => [`${pascal(step)}FunctionArn`, functionOf(`${prefix}Steps${pascal(step)}`)]),
      );
      expect(Object.keys(byExport).sort()).toEqual(taskSubstitutionsIn(file));
      for (const [substitution, [functionId, fn]] of Object.entries(byExport)) {
        expect(substitutions[substitution]).toEqual({ 'Fn::GetAtt': [functionId, 'Arn'] });
        expect(fn.Properties.Handler).toBe(
          `index.${substitution.replace(/FunctionArn$/, '').replace(/^./, (c) => c.toLowerCase())}`,
        );
      }
    });

    it('logs every event with execution data to a log group encrypted with a rotating key, and traces', () => {
      const logging = resource.Properties.LoggingConfiguration as {
        Level: string;
        IncludeExecutionData: boolean;
        Destinations: Array<{ CloudWatchLogsLogGroup: { LogGroupArn: unknown } }>;
      };
      const logGroupId = referencedId(logging.Destinations[0]?.CloudWatchLogsLogGroup.LogGroupArn) ?? '';
      const [, logGroup] = only(workflows, 'AWS::Logs::LogGroup', logGroupId);
      const keyId = referencedId(logGroup.Properties.KmsKeyId) ?? '';

      expect(logging).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
      expect(logGroup.Properties).toMatchObject({
        LogGroupName: `/aws/vendedlogs/states/cdp-${name}-${machine}`,
        RetentionInDays: config.workflows.logRetentionDays,
      });
      expect(only(workflows, 'AWS::KMS::Key', keyId)[1].Properties.EnableKeyRotation).toBe(true);
      expect(resource.Properties.TracingConfiguration).toEqual({ Enabled: true });
    });

    it('may invoke exactly its step functions, unqualified, and nothing else through Lambda', () => {
      const roleId = referencedId(resource.Properties.RoleArn) ?? '';
      const statements = statementsOf(workflows, `${roleId.replace(/[0-9A-F]{8}$/, '')}DefaultPolicy`);
      const invoke = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));

      expect(invoke).toEqual([
        {
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: steps.map((step) => ({
            'Fn::GetAtt': [functionOf(`${prefix}Steps${pascal(step)}`)[0], 'Arn'],
          })),
        },
      ]);
      expect(
        statements
          .filter((s) => s.Resource === '*')
          .flatMap(actionsOf)
          .every((a) => a.startsWith('logs:') || a.startsWith('xray:')),
      ).toBe(true);
    });
  });

  describe('alarms', () => {
    const alarmOf = (fragment: string) => only(workflows, 'AWS::CloudWatch::Alarm', fragment)[1].Properties;
    const recoveryDimensions = [{ Name: 'service', Value: 'etl-recovery' }];

    it.each([
      { alarm: 'EtlFailed', metric: 'ExecutionsFailed', machine: 'etl' },
      { alarm: 'EtlTimedOut', metric: 'ExecutionsTimedOut', machine: 'etl' },
      { alarm: 'ReconciliationFailed', metric: 'ExecutionsFailed', machine: 'reconciliation' },
    ])('alarms on any $metric of the $machine machine', ({ alarm, metric, machine }) => {
      expect(alarmOf(alarm)).toMatchObject({
        Namespace: 'AWS/States',
        MetricName: metric,
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: machineOf(machine)[0] } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    it(`alarms when the warehouse is more than ${etlConfig.stalenessAlarmSeconds} s stale, or unreported`, () => {
      expect(alarmOf('WarehouseStaleness')).toMatchObject({
        Namespace: 'CustomerDataPlatform',
        MetricName: 'WarehouseStalenessSeconds',
        Dimensions: recoveryDimensions,
        Statistic: 'Maximum',
        Period: etlConfig.recoveryIntervalMinutes * 60,
        Threshold: etlConfig.stalenessAlarmSeconds,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        TreatMissingData: 'breaching',
      });
      expect(etlConfig.stalenessAlarmSeconds).toBeGreaterThan(etlConfig.intervalMinutes * 60);
    });

    it(`alarms when batches stay FAILED through ${etlConfig.maxRetries + 1} recovery runs`, () => {
      expect(alarmOf('FailedBatches')).toMatchObject({
        Namespace: 'CustomerDataPlatform',
        MetricName: 'FailedBatches',
        Dimensions: recoveryDimensions,
        Statistic: 'Maximum',
        Period: etlConfig.recoveryIntervalMinutes * 60,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: etlConfig.maxRetries + 1,
        DatapointsToAlarm: etlConfig.maxRetries + 1,
        TreatMissingData: 'notBreaching',
      });
    });

    it('notifies the encrypted, TLS-only topic from every alarm, on alarm and on recovery', () => {
      const alarms = resourcesOf('AWS::CloudWatch::Alarm');
      expect(alarms).toHaveLength(5);
      for (const [, alarm] of alarms) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
      }
      workflows.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: topicId }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      workflows.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    });
  });

  it('grants no wildcard action in any IAM policy of the stack', () => {
    const wildcards = allStatements.flatMap(actionsOf).filter((action) => action.includes('*'));

    expect(wildcards).toEqual([]);
  });
});
