import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../../lib/config/index.js';
import { PlatformStage } from '../../../lib/PlatformStage.js';
import { STEP_FUNCTIONS_DIR } from '../../../step-functions/definitions.js';
import {
  actionsOf,
  only,
  parseJoinedJson,
  type Resources,
  referencedId,
  type Statement,
  statementsOf,
} from '../../support/templateQueries.js';

import {
  definitionTimeoutSeconds,
  ETL_STEPS,
  pascal,
  rateOf,
  resourcesGranting,
  WORKFLOW_VARIABLES,
  workflowsFixture,
} from '../../support/workflowsTemplate.js';

describe.each(ENVIRONMENT_NAMES)('Workflows and warehouse stacks (%s)', (name) => {
  const {
    config,
    etlConfig,
    warehouseConfig,
    workflows,
    warehouse,
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
  } = workflowsFixture(name);

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
