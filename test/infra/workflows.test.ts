import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, FileSystem } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REPLAY_GROUP_PREFIX } from '../../lambdas/shared/replay/KafkaEventLog.js';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { PlatformStage } from '../../lib/PlatformStage.js';
import { EVENT_LOG_GROUP_PREFIX } from '../../lib/stacks/WorkflowsStack.js';
import { STEP_FUNCTIONS_DIR } from '../../step-functions/definitions.js';
import { synthesize } from '../support/synth.js';
import {
  actionsOf,
  joined,
  only,
  parseJoinedJson,
  type Resource,
  type Resources,
  referencedId,
  type Statement,
  statementsOf,
} from '../support/templateQueries.js';

const ETL_STEPS = ['openBatch', 'extractLoad', 'validateShard', 'closeBatch'] as const;
const RECONCILIATION_STEPS = [
  'reconcileIndex',
  'sweepIndex',
  'findEventGaps',
  'replayGaps',
  'report',
] as const;
const pascal = (name: string): string => `${name.charAt(0).toUpperCase()}${name.slice(1)}`;

/** The `${Name}` substitutions a definition file uses, read independently of the construct. */
const substitutionsIn = (file: string): string[] => {
  const text = readFileSync(join(STEP_FUNCTIONS_DIR, file), 'utf8');
  return [...new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1] ?? ''))].sort();
};

/** The top-level `TimeoutSeconds` of a definition file. */
const definitionTimeoutSeconds = (file: string): number =>
  (JSON.parse(readFileSync(join(STEP_FUNCTIONS_DIR, file), 'utf8')) as { TimeoutSeconds: number })
    .TimeoutSeconds;

/** Every Lambda task resource of a definition: the `${Name}`s that must be function ARNs. */
const taskSubstitutionsIn = (file: string): string[] =>
  substitutionsIn(file).filter((name) => name.endsWith('FunctionArn'));

const WORKFLOW_VARIABLES = ['POWERTOOLS_SERVICE_NAME', 'NODE_OPTIONS'];

/** How EventBridge Scheduler writes a rate of whole minutes (CDK picks the largest whole unit). */
const rateOf = (minutes: number): string => {
  if (minutes % 1_440 === 0) return `rate(${minutes / 1_440} day${minutes === 1_440 ? '' : 's'})`;
  if (minutes % 60 === 0) return `rate(${minutes / 60} hour${minutes === 60 ? '' : 's'})`;
  return `rate(${minutes} minute${minutes === 1 ? '' : 's'})`;
};

/** Every resource of the statements of `statements` that grant `action`, rendered as text. */
const resourcesGranting = (statements: readonly Statement[], action: string): string[] =>
  statements
    .filter((s) => actionsOf(s).includes(action))
    .flatMap((s) => [s.Resource].flat())
    .map((r) => JSON.stringify(r));

describe('consumer group prefixes', () => {
  it('grants the prefix the event log code joins its throw-away groups with', () => {
    expect(EVENT_LOG_GROUP_PREFIX).toBe(DEFAULT_REPLAY_GROUP_PREFIX);
  });
});

describe.each(ENVIRONMENT_NAMES)('Workflows and warehouse stacks (%s)', (name) => {
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

  describe('warehouse', () => {
    const [clusterId, cluster] = only(warehouse, 'AWS::RDS::DBCluster');
    const keys = warehouse.findResources('AWS::KMS::Key') as Resources;

    it('is an Aurora PostgreSQL Serverless v2 cluster with the Data API and the configured capacity', () => {
      expect(cluster.Properties).toMatchObject({
        Engine: 'aurora-postgresql',
        EngineVersion: config.data.aurora.engineVersion,
        DBClusterIdentifier: `cdp-${name}-warehouse`,
        DatabaseName: 'warehouse',
        EnableHttpEndpoint: true,
        ServerlessV2ScalingConfiguration: {
          MinCapacity: warehouseConfig.minCapacityAcu,
          MaxCapacity: warehouseConfig.maxCapacityAcu,
        },
        Port: config.data.aurora.port,
        BackupRetentionPeriod: config.data.aurora.backupRetentionDays,
        DeletionProtection: config.data.aurora.deletionProtection,
        StorageEncrypted: true,
      });
      const instances = Object.values(warehouse.findResources('AWS::RDS::DBInstance') as Resources);
      expect(instances).toHaveLength(1 + warehouseConfig.readers);
      for (const instance of instances) {
        expect(instance.Properties).toMatchObject({
          DBInstanceClass: 'db.serverless',
          DBClusterIdentifier: { Ref: clusterId },
        });
      }
    });

    it('encrypts storage with its own rotating key, and rotates its admin secret', () => {
      const keyId = referencedId(cluster.Properties.KmsKeyId) ?? '';
      expect(keys[keyId]?.Properties.EnableKeyRotation).toBe(true);
      warehouse.hasResourceProperties('AWS::SecretsManager::Secret', {
        KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      });
      warehouse.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    });

    it('lives in the data subnets behind the database security group', () => {
      expect(cluster.Properties.VpcSecurityGroupIds).toEqual([
        { 'Fn::ImportValue': expect.stringMatching(`cdp-${name}-network:.*DatabaseSg`) },
      ]);
      const [, subnetGroup] = only(warehouse, 'AWS::RDS::DBSubnetGroup');
      expect(subnetGroup.Properties.SubnetIds).toEqual(
        [1, 2, 3].map((n) => ({ 'Fn::ImportValue': expect.stringMatching(new RegExp(`VpcdataSubnet${n}`)) })),
      );
    });

    it(`is ${config.data.aurora.retainOnDelete ? 'retained' : 'snapshotted'} when its stack is deleted`, () => {
      expect(cluster.DeletionPolicy).toBe(config.data.aurora.retainOnDelete ? 'Retain' : 'Snapshot');
      if (name === 'prod') expect(cluster.Properties.DeletionProtection).toBe(true);
    });

    it('gets its schema from the warehouse migrations, as a one-entry shard map, before the ETL runs', () => {
      const [schemaId, schema] = only(workflows, 'Custom::WarehouseSchemaMigrations');
      const migrations = readFileSync(
        join(STEP_FUNCTIONS_DIR, '..', 'lambdas', 'shared', 'warehouse', 'migrations.ts'),
        'utf8',
      );

      expect(schema.Properties.MigrationsChecksum).toBe(
        createHash('sha256').update(migrations).digest('hex'),
      );
      expect(parseJoinedJson(schema.Properties.ShardMap)).toEqual({
        version: 1,
        shards: [
          {
            id: 'shard-0',
            clusterArn: expect.stringMatching(
              new RegExp(
                `^arn:<token>:rds:${config.region}:${config.account}:cluster:<import:ExportsOutputRefWarehouseCluster[0-9A-F]+>$`,
              ),
            ),
            secretArn: expect.stringMatching(
              /^<import:ExportsOutputRefWarehouseClusterSecretAttachment[0-9A-F]+>$/,
            ),
            database: 'warehouse',
          },
        ],
      });
      const [, handler] = functionOf('WarehouseSchemaHandler');
      expect(handler.Properties.Handler).toBe('index.handler');
      for (const step of ETL_STEPS) {
        expect(functionOf(`EtlSteps${pascal(step)}`)[1].DependsOn).toContain(schemaId);
      }
      expect(functionOf('EtlRecovery')[1].DependsOn).toContain(schemaId);
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

  describe('ETL', () => {
    it('publishes failures to the notification topic only, with the data key through SNS', () => {
      const roleId = referencedId(etlMachine.Properties.RoleArn) ?? '';
      const statements = statementsOf(workflows, `${roleId.replace(/[0-9A-F]{8}$/, '')}DefaultPolicy`);
      const [, topic] = only(workflows, 'AWS::SNS::Topic');

      expect(
        (etlMachine.Properties.DefinitionSubstitutions as Record<string, unknown>).FailureTopicArn,
      ).toEqual({
        Ref: topicId,
      });
      expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sns:')))).toEqual([
        { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topicId } },
      ]);
      expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')))).toEqual([
        {
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: { 'Fn::GetAtt': [referencedId(topic.Properties.KmsMasterKeyId), 'Arn'] },
          Condition: { StringEquals: { 'kms:ViaService': `sns.${config.region}.amazonaws.com` } },
        },
      ]);
    });

    it.each(ETL_STEPS)(
      'runs %s from lambdas/etl in the compute subnets with the contract environment',
      (step) => {
        const [, fn] = functionOf(`EtlSteps${pascal(step)}`);

        expect(fn.Properties).toMatchObject({
          Handler: `index.${step}`,
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          VpcConfig: { SecurityGroupIds: [{ 'Fn::ImportValue': expect.stringMatching('ComputeSg') }] },
        });
        const variables = variablesOf(`EtlSteps${pascal(step)}`);
        expect(Object.keys(variables).sort()).toEqual(
          [
            'SHARD_MAP',
            'WAREHOUSE_CLUSTER_ARN',
            'WAREHOUSE_SECRET_ARN',
            'WAREHOUSE_DATABASE',
            'ETL_SETTLE_SECONDS',
            'POWERTOOLS_METRICS_NAMESPACE',
            ...WORKFLOW_VARIABLES,
          ].sort(),
        );
        expect(variables).toMatchObject({
          WAREHOUSE_CLUSTER_ARN: warehouseClusterArn,
          WAREHOUSE_DATABASE: 'warehouse',
          ETL_SETTLE_SECONDS: String(etlConfig.settleSeconds),
          POWERTOOLS_METRICS_NAMESPACE: 'CustomerDataPlatform',
          POWERTOOLS_SERVICE_NAME: 'etl',
        });
        expect((parseJoinedJson(variables.SHARD_MAP) as { shards: unknown[] }).shards).toHaveLength(
          config.data.shardCount,
        );
      },
    );

    it('lets the shard steps use every shard and the warehouse, and the batch steps the warehouse only', () => {
      const dataApiResources = (fragment: string) =>
        resourcesGranting(policyOf(fragment), 'rds-data:ExecuteStatement');

      for (const step of ['extractLoad', 'validateShard']) {
        const resources = dataApiResources(`EtlSteps${pascal(step)}`);
        expect(resources).toHaveLength(config.data.shardCount + 1);
        expect(resources.filter((r) => r.includes('cdp-') && r.includes('warehouse'))).toHaveLength(1);
      }
      for (const step of ['openBatch', 'closeBatch']) {
        const resources = dataApiResources(`EtlSteps${pascal(step)}`);
        expect(resources).toHaveLength(1);
        expect(resources[0]).toMatch(new RegExp(`cdp-${name}-warehouse:`));
      }
    });

    it(`starts a new batch every ${etlConfig.intervalMinutes} minutes from EventBridge Scheduler with {}`, () => {
      const [, schedule] = only(workflows, 'AWS::Scheduler::Schedule', 'EtlSchedule');
      const roleId = referencedId((schedule.Properties.Target as { RoleArn: unknown }).RoleArn) ?? '';
      const rolePolicies = policies.filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId));

      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: rateOf(etlConfig.intervalMinutes),
        State: 'ENABLED',
        GroupName: `cdp-${name}-workflows`,
        Target: {
          Arn: { Ref: etlId },
          Input: '{}',
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: etlConfig.intervalMinutes * 60 },
        },
      });
      expect(
        rolePolicies.flatMap(
          ([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
        ),
      ).toEqual([{ Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: etlId } }]);
    });

    it('runs the recovery job on its own schedule, allowed to start executions of the ETL machine only', () => {
      const [aliasId] = only(workflows, 'AWS::Lambda::Alias', 'EtlRecoverySchedule');
      const [, schedule] = only(workflows, 'AWS::Scheduler::Schedule', 'EtlRecoverySchedule');
      const statesStatements = allStatements.filter((s) => actionsOf(s).some((a) => a.startsWith('states:')));

      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: rateOf(etlConfig.recoveryIntervalMinutes),
        Target: { Arn: { Ref: aliasId }, RetryPolicy: { MaximumRetryAttempts: 0 } },
      });
      expect(variablesOf('EtlRecovery')).toMatchObject({
        ETL_STATE_MACHINE_ARN: { Ref: etlId },
        ETL_MAX_RETRIES: String(etlConfig.maxRetries),
        // Abandoned = still RUNNING 5 minutes past the definition's TimeoutSeconds.
        ETL_ABANDON_AFTER_SECONDS: String(definitionTimeoutSeconds('etl.asl.json') + 300),
        WAREHOUSE_CLUSTER_ARN: warehouseClusterArn,
        WAREHOUSE_SECRET_ARN: warehouseImport(/Secret/),
        WAREHOUSE_DATABASE: 'warehouse',
        POWERTOOLS_METRICS_NAMESPACE: 'CustomerDataPlatform',
      });
      expect(
        policyOf('EtlRecovery').filter((s) => actionsOf(s).some((a) => a.startsWith('states:'))),
      ).toEqual([{ Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: etlId } }]);
      // Besides the recovery job, only the schedulers and the alarm rule start executions, each of one machine.
      for (const statement of statesStatements) {
        expect(actionsOf(statement)).toEqual(['states:StartExecution']);
        expect([{ Ref: etlId }, { Ref: reconciliationId }]).toContainEqual(statement.Resource);
      }
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

  describe('reconciliation', () => {
    it(`runs every ${reconciliationConfig.intervalMinutes} minutes from EventBridge Scheduler`, () => {
      const [, schedule] = only(workflows, 'AWS::Scheduler::Schedule', 'ReconciliationSchedule');
      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: rateOf(reconciliationConfig.intervalMinutes),
        GroupName: `cdp-${name}-workflows`,
        Target: { Arn: { Ref: reconciliationId }, Input: '{}' },
      });
    });

    it(`starts when an alarm of cdp-${name} other than its own returns from ALARM to OK`, () => {
      const [, rule] = only(workflows, 'AWS::Events::Rule', 'AlarmRecovered');

      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        account: [config.account],
        region: [config.region],
        resources: [
          {
            prefix: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  `:cloudwatch:${config.region}:${config.account}:alarm:cdp-${name}-`,
                ],
              ],
            },
          },
        ],
        detail: {
          // Its own alarms would restart it after every failed run: excluded.
          alarmName: [{ 'anything-but': { prefix: `cdp-${name}-workflows-` } }],
          state: { value: ['OK'] },
          previousState: { value: ['ALARM'] },
        },
      });
      expect(rule.Properties.Targets).toEqual([
        expect.objectContaining({ Arn: { Ref: reconciliationId }, Input: '{}' }),
      ]);
    });

    it.each(RECONCILIATION_STEPS)(
      'runs %s from lambdas/reconciliation with the contract environment',
      (step) => {
        const variables = variablesOf(`ReconciliationSteps${pascal(step)}`);

        expect(functionOf(`ReconciliationSteps${pascal(step)}`)[1].Properties.Handler).toBe(`index.${step}`);
        expect(Object.keys(variables).sort()).toEqual(
          [
            'SHARD_MAP',
            'REDIS_HOST',
            'REDIS_PORT',
            'REDIS_AUTH_SECRET_ARN',
            'CLUSTER_ARN',
            'TOPIC',
            'RETRY_TOPIC',
            'POWERTOOLS_METRICS_NAMESPACE',
            ...WORKFLOW_VARIABLES,
          ].sort(),
        );
        expect(variables).toMatchObject({
          TOPIC: config.consumer.topic,
          RETRY_TOPIC: config.consumer.retryTopic,
        });
      },
    );

    it('reads the events topic with throw-away groups of its own prefix and writes the retry topic only', () => {
      const kafkaResources = (fragment: string, action: string) =>
        policyOf(fragment)
          .filter((s) => actionsOf(s).includes(action))
          .flatMap((s) => [s.Resource].flat())
          .map((r) => joined(r));

      expect(kafkaResources('ReconciliationStepsFindEventGaps', 'kafka-cluster:ReadData')).toEqual([
        expect.stringMatching(
          new RegExp(`:topic/cdp-${name}/.*/${config.consumer.topic.replaceAll('.', '\\.')}$`),
        ),
      ]);
      expect(kafkaResources('ReconciliationStepsFindEventGaps', 'kafka-cluster:AlterGroup')).toEqual([
        expect.stringMatching(new RegExp(`:group/cdp-${name}/.*/${EVENT_LOG_GROUP_PREFIX}-\\*$`)),
      ]);
      expect(kafkaResources('ReconciliationStepsReplayGaps', 'kafka-cluster:WriteData')).toEqual([
        expect.stringMatching(new RegExp(`/${config.consumer.retryTopic.replaceAll('.', '\\.')}$`)),
      ]);
      for (const step of ['reconcileIndex', 'sweepIndex', 'findEventGaps', 'report']) {
        expect(policyOf(`ReconciliationSteps${pascal(step)}`).flatMap(actionsOf)).not.toContain(
          'kafka-cluster:WriteData',
        );
      }
      expect(
        policyOf('ReconciliationStepsReport')
          .flatMap(actionsOf)
          .filter((a) => /^(kafka|rds-data|states|sns)/.test(a)),
      ).toEqual([]);
    });
  });

  describe('event replay', () => {
    it('copies the events topic to the retry topic, with no schedule', () => {
      const [replayId, replay] = functionOf('EventReplay');
      const writes = policyOf('EventReplay')
        .filter((s) => actionsOf(s).includes('kafka-cluster:WriteData'))
        .flatMap((s) => [s.Resource].flat())
        .map((r) => joined(r));

      expect(replay.Properties.Handler).toBe('index.handler');
      expect(variablesOf('EventReplay')).toMatchObject({
        CLUSTER_ARN: { 'Fn::ImportValue': expect.stringMatching(`cdp-${name}-streaming:.*Kafka.*Arn`) },
        TOPIC: config.consumer.topic,
        RETRY_TOPIC: config.consumer.retryTopic,
      });
      expect(
        policyOf('EventReplay')
          .filter((s) => actionsOf(s).includes('kafka-cluster:AlterGroup'))
          .flatMap((s) => [s.Resource].flat())
          .map((r) => joined(r)),
      ).toEqual([
        `arn:<token>:kafka:${config.region}:${config.account}:group/cdp-${name}/*/${EVENT_LOG_GROUP_PREFIX}-*`,
      ]);
      expect(writes).toEqual([
        expect.stringMatching(new RegExp(`/${config.consumer.retryTopic.replaceAll('.', '\\.')}$`)),
      ]);
      expect(JSON.stringify(workflows.findResources('AWS::Scheduler::Schedule'))).not.toContain(replayId);
    });
  });

  it('grants no wildcard action in any IAM policy of the stack', () => {
    const wildcards = allStatements.flatMap(actionsOf).filter((action) => action.includes('*'));

    expect(wildcards).toEqual([]);
  });
});

describe('Workflow schedules', () => {
  it("refuses an ETL schedule shorter than the definition's TimeoutSeconds: runs would pile up", () => {
    const base = loadEnvironmentConfig('dev');
    const config = {
      ...base,
      workflows: { ...base.workflows, etl: { ...base.workflows.etl, intervalMinutes: 10 } },
    };
    // No bundling: the stage must fail while it is being built.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });

    expect(() => new PlatformStage(app, 'dev', { config })).toThrow(
      `workflows.etl.intervalMinutes: 10 minutes is shorter than the definition's TimeoutSeconds (${definitionTimeoutSeconds('etl.asl.json')} s)`,
    );
  });
});
