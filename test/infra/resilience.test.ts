import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import {
  availabilityZonesOf,
  ENVIRONMENT_NAMES,
  loadEnvironmentConfig,
  resilienceEnabled,
} from '../../lib/config/index.js';
import {
  FIS_EXEC_WRAPPER,
  FIS_EXTENSION_LAYER_PARAMETER,
} from '../../lib/constructs/attachFaultInjectionExtension.js';
import { GameDayExperiments } from '../../lib/constructs/GameDayExperiments.js';
import {
  EXPERIMENT_TAGS,
  FAULT_CONFIGURATION_PREFIX,
  FAULT_TARGET_TAG,
  faultConfigurationBucketName,
  GAME_DAY_SCENARIOS,
} from '../../lib/gameDays.js';
import { synthesize } from '../support/synth.js';
import {
  only,
  type Resource,
  type Resources,
  referencedId,
  type Statement,
} from '../support/templateQueries.js';

/** What each FIS action needs, as the FIS actions reference lists it: no more, no less. */
const ACTION_PERMISSIONS: Record<string, readonly string[]> = {
  'aws:rds:failover-db-cluster': ['rds:FailoverDBCluster', 'rds:DescribeDBClusters', 'tag:GetResources'],
  'aws:elasticache:replicationgroup-interrupt-az-power': [
    'elasticache:InterruptClusterAzPower',
    'elasticache:DescribeReplicationGroups',
    'tag:GetResources',
  ],
  'aws:lambda:invocation-add-delay': [
    's3:PutObject',
    's3:DeleteObject',
    'lambda:GetFunction',
    'tag:GetResources',
  ],
  'aws:lambda:invocation-error': [
    's3:PutObject',
    's3:DeleteObject',
    'lambda:GetFunction',
    'tag:GetResources',
  ],
  'aws:network:disrupt-connectivity': [
    'ec2:CreateNetworkAcl',
    'ec2:CreateNetworkAclEntry',
    'ec2:CreateTags',
    'ec2:DeleteNetworkAcl',
    'ec2:DescribeManagedPrefixLists',
    'ec2:DescribeNetworkAcls',
    'ec2:DescribeSubnets',
    'ec2:DescribeVpcs',
    'ec2:GetManagedPrefixListEntries',
    'ec2:ReplaceNetworkAclAssociation',
  ],
  // iam:PassRole because the document runs as its own automation role.
  'aws:ssm:start-automation-execution': [
    'ssm:GetAutomationExecution',
    'ssm:StartAutomationExecution',
    'ssm:StopAutomationExecution',
    'iam:PassRole',
  ],
};
/** Writing the experiment report to the KMS-encrypted bucket. */
const REPORT_PERMISSIONS = ['s3:PutObject', 's3:GetObject', 'kms:GenerateDataKey', 'kms:Decrypt'];
/** Capturing the environment's dashboard in the report. */
const DASHBOARD_PERMISSIONS = ['cloudwatch:GetDashboard', 'cloudwatch:GetMetricWidgetImage'];

interface ExperimentTemplate {
  readonly id: string;
  readonly properties: {
    readonly Actions: Record<
      string,
      { ActionId: string; Parameters?: Record<string, string>; Targets?: object }
    >;
    readonly Targets: Record<string, Record<string, unknown>>;
    readonly StopConditions: Array<{ Source: string; Value: unknown }>;
    readonly Tags: Record<string, string>;
    readonly RoleArn: unknown;
    readonly ExperimentOptions: Record<string, string>;
    readonly ExperimentReportConfiguration: {
      Outputs: { ExperimentReportS3Configuration: { BucketName: unknown; Prefix: string } };
      DataSources?: unknown;
    };
  };
}

const templatesOf = (template: Template): ExperimentTemplate[] =>
  Object.entries(template.findResources('AWS::FIS::ExperimentTemplate') as Resources).map(([id, r]) => ({
    id,
    properties: r.Properties as unknown as ExperimentTemplate['properties'],
  }));

/** Every action the policies attached to `roleId` allow, sorted and without repeats. */
const roleActions = (template: Template, roleId: string): string[] => {
  const policies = Object.values(template.findResources('AWS::IAM::Policy') as Resources).filter((p) =>
    JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`),
  );
  const statements = policies.flatMap(
    (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
  );
  expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
  return [...new Set(statements.flatMap((s) => [s.Action].flat()))].sort();
};

const statementsOfRole = (template: Template, roleId: string): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy') as Resources)
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);

const sorted = (actions: readonly string[]): string[] => [...new Set(actions)].sort();

/** The tags of a resource, whether CloudFormation takes them as a list (most types) or a map (a few). */
const tagsOf = (resource: Resource): Record<string, string> => {
  const tags: unknown = resource.Properties?.Tags;
  if (Array.isArray(tags)) {
    return Object.fromEntries((tags as Array<{ Key: string; Value: string }>).map((t) => [t.Key, t.Value]));
  }
  return (tags ?? {}) as Record<string, string>;
};

const enabled = ENVIRONMENT_NAMES.filter((name) => resilienceEnabled(loadEnvironmentConfig(name)));

describe('resilience configuration', () => {
  it('runs game days in dev and uat, and not in prod unless prod sets it', () => {
    expect(enabled).toEqual(['dev', 'uat']);
    expect(resilienceEnabled({ ...loadEnvironmentConfig('prod'), resilience: { enabled: true } })).toBe(true);
    expect(resilienceEnabled({ ...loadEnvironmentConfig('dev'), resilience: { enabled: false } })).toBe(
      false,
    );
  });
});

describe.each(enabled)('Resilience stack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const synthesized = synthesize(name);
  const { stage } = synthesized;
  const resilience = synthesized.resilience;
  if (resilience === undefined) throw new Error(`no resilience stack in ${name}`);
  const experiments = templatesOf(resilience);
  const byScenario = (scenario: string): ExperimentTemplate => {
    const found = experiments.find((e) => e.properties.Tags[EXPERIMENT_TAGS.scenario] === scenario);
    if (found === undefined) throw new Error(`no template for ${scenario}`);
    return found;
  };
  const primaryZone = availabilityZonesOf(config)[0];

  it('is the cdp-<env>-resilience stack with one template per game-day scenario, tagged for the runner', () => {
    expect(stage.resilience?.stackName).toBe(`cdp-${name}-resilience`);
    expect(experiments.map((e) => e.properties.Tags[EXPERIMENT_TAGS.scenario]).sort()).toEqual(
      GAME_DAY_SCENARIOS.map((s) => s.id).sort(),
    );
    for (const { properties } of experiments) {
      expect(properties.Tags[EXPERIMENT_TAGS.environment]).toBe(name);
      expect(properties.ExperimentOptions).toEqual({
        AccountTargeting: 'single-account',
        EmptyTargetResolutionMode: 'fail',
      });
    }
  });

  it("stops every experiment on the environment's critical alarms", () => {
    const expected = [
      `cdp-${name}-consumer:ExportsOutputFnGetAttFailureQueueDepthAlarm`,
      `cdp-${name}-consumer:ExportsOutputFnGetAttOffsetLagAlarm`,
      `cdp-${name}-ingest:ExportsOutputFnGetAttSpillDepthAlarm`,
      `cdp-${name}-ingest:ExportsOutputFnGetAttDrainStalledAlarm`,
    ];
    for (const { properties } of experiments) {
      expect(properties.StopConditions.every((c) => c.Source === 'aws:cloudwatch:alarm')).toBe(true);
      const imports = properties.StopConditions.map(
        (c) => (c.Value as { 'Fn::ImportValue': string })['Fn::ImportValue'],
      );
      expect(imports).toHaveLength(expected.length);
      expected.forEach((prefix, i) => {
        expect(imports[i]).toMatch(new RegExp(`^${prefix}[0-9A-F]{8}Arn[0-9A-F]{8}$`));
      });
    }
  });

  it('gives each experiment its own role, assumable by FIS of this account only, allowed exactly what its action needs', () => {
    const roleIds = new Set<string>();
    for (const { properties } of experiments) {
      const [action] = Object.values(properties.Actions);
      if (action === undefined) throw new Error('template without an action');
      const roleId = referencedId(properties.RoleArn);
      if (roleId === undefined) throw new Error('template without a role');
      roleIds.add(roleId);
      const needed = ACTION_PERMISSIONS[action.ActionId];
      expect(needed, action.ActionId).toBeDefined();
      expect(roleActions(resilience, roleId)).toEqual(
        sorted([...(needed ?? []), ...REPORT_PERMISSIONS, ...DASHBOARD_PERMISSIONS]),
      );

      const role = resilience.toJSON().Resources[roleId] as Resource;
      expect(role.Properties.AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'fis.amazonaws.com' },
            Condition: {
              StringEquals: { 'aws:SourceAccount': config.account },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      `:fis:${config.region}:${config.account}:experiment/*`,
                    ],
                  ],
                },
              },
            },
          },
        ],
      });
    }
    expect(roleIds.size).toBe(experiments.length);
  });

  it('grants the mutating actions on the targeted resources only, never on "*"', () => {
    const mutating = [
      'rds:FailoverDBCluster',
      'elasticache:InterruptClusterAzPower',
      'lambda:GetFunction',
      's3:PutObject',
      's3:DeleteObject',
      'ec2:CreateNetworkAcl',
      'ec2:CreateNetworkAclEntry',
      'ec2:DeleteNetworkAcl',
      'ec2:ReplaceNetworkAclAssociation',
      'ec2:CreateTags',
      'ssm:StartAutomationExecution',
      'iam:PassRole',
    ];
    for (const { properties } of experiments) {
      const roleId = referencedId(properties.RoleArn) ?? '';
      for (const statement of statementsOfRole(resilience, roleId)) {
        if ([statement.Action].flat().some((a) => mutating.includes(a))) {
          expect([statement.Resource].flat(), JSON.stringify(statement)).not.toContain('*');
        }
      }
    }
    // Network ACLs are created, filled and deleted only with FIS's own tag.
    const partitionRole = referencedId(byScenario('data-subnet-partition').properties.RoleArn) ?? '';
    const aclStatements = statementsOfRole(resilience, partitionRole).filter((s) =>
      [s.Action]
        .flat()
        .some((a) => ['ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAcl', 'ec2:CreateTags'].includes(a)),
    );
    expect(aclStatements).toHaveLength(2);
    for (const s of aclStatements) expect(JSON.stringify(s.Condition)).toContain('managedByFIS');
  });

  it('selects targets by the fault-target and environment tags, never by ARN', () => {
    const expectTarget = (
      scenario: string,
      key: string,
      resourceType: string,
      target: string,
      mode: string,
    ) => {
      const t = byScenario(scenario).properties.Targets[key];
      expect(t, scenario).toMatchObject({
        ResourceType: resourceType,
        ResourceTags: { [FAULT_TARGET_TAG]: target, environment: name },
        SelectionMode: mode,
      });
      expect(t?.ResourceArns).toBeUndefined();
    };
    expectTarget('shard-failover', 'Clusters', 'aws:rds:cluster', 'shard', 'COUNT(1)');
    expectTarget(
      'redis-primary-loss',
      'ReplicationGroups',
      'aws:elasticache:replicationgroup',
      'index',
      'ALL',
    );
    expectTarget('consumer-latency', 'Functions', 'aws:lambda:function', 'consumer', 'ALL');
    expectTarget('consumer-errors', 'Functions', 'aws:lambda:function', 'consumer', 'ALL');
    expectTarget('query-latency', 'Functions', 'aws:lambda:function', 'query', 'ALL');
    expectTarget('query-errors', 'Functions', 'aws:lambda:function', 'query', 'ALL');
    expectTarget('data-subnet-partition', 'Subnets', 'aws:ec2:subnet', 'data-subnet', 'ALL');
    expect(byScenario('redis-primary-loss').properties.Targets.ReplicationGroups?.Parameters).toEqual({
      availabilityZoneIdentifier: primaryZone,
    });
    expect(byScenario('data-subnet-partition').properties.Targets.Subnets?.Filters).toEqual([
      { Path: 'AvailabilityZone', Values: [primaryZone] },
    ]);
    expect(byScenario('kafka-broker-reboot').properties.Targets).toEqual({});
  });

  it('passes each action the parameters FIS documents for it', () => {
    const params = (scenario: string) =>
      Object.values(byScenario(scenario).properties.Actions)[0]?.Parameters;
    expect(params('shard-failover')).toBeUndefined();
    expect(params('redis-primary-loss')).toEqual({ duration: 'PT10M' });
    expect(params('consumer-latency')).toEqual({
      duration: 'PT10M',
      startupDelayMilliseconds: '5000',
      invocationPercentage: '50',
    });
    expect(params('query-errors')).toEqual({
      duration: 'PT10M',
      invocationPercentage: '20',
      preventExecution: 'true',
    });
    expect(params('data-subnet-partition')).toEqual({ duration: 'PT5M', scope: 'all' });
    const reboot = params('kafka-broker-reboot');
    expect(reboot?.maxDuration).toBe('PT30M');
    expect(JSON.stringify(reboot?.documentArn)).toContain(':document/');
    expect(JSON.stringify(reboot?.documentParameters)).toContain('AutomationAssumeRole');
  });

  it('reboots a broker through an Automation document whose role may only reboot and describe the cluster', () => {
    const [, document] = only(resilience, 'AWS::SSM::Document');
    expect(document.Properties.DocumentType).toBe('Automation');
    const content = document.Properties.Content as {
      mainSteps: Array<{ action: string; inputs: Record<string, unknown> }>;
    };
    expect(content.mainSteps.map((s) => [s.action, s.inputs.Service, s.inputs.Api])).toEqual([
      ['aws:executeAwsApi', 'kafka', 'RebootBroker'],
      ['aws:waitForAwsResourceProperty', 'kafka', 'DescribeCluster'],
    ]);
    const [roleId] = only(resilience, 'AWS::IAM::Role', 'BrokerRebootAutomationRole');
    expect(roleActions(resilience, roleId)).toEqual(['kafka:DescribeCluster', 'kafka:RebootBroker']);
    for (const s of statementsOfRole(resilience, roleId)) {
      expect(JSON.stringify(s.Resource)).toContain(`cdp-${name}-streaming:ExportsOutputFnGetAtt`);
    }
  });

  it('reports to a KMS-encrypted, private, TLS-only bucket under a prefix per experiment', () => {
    const buckets = resilience.findResources('AWS::S3::Bucket') as Resources;
    for (const { properties } of experiments) {
      const { BucketName, Prefix } =
        properties.ExperimentReportConfiguration.Outputs.ExperimentReportS3Configuration;
      expect(Prefix).toBe(`reports/${properties.Tags[EXPERIMENT_TAGS.scenario]}/`);
      const bucket = buckets[referencedId(BucketName) ?? ''];
      expect(bucket?.Properties.BucketEncryption).toMatchObject({
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: expect.anything() } },
        ],
      });
      expect(bucket?.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      // Each report captures the environment's dashboard, from the dashboard stack.
      expect(properties.ExperimentReportConfiguration.DataSources).toEqual({
        CloudWatchDashboards: [
          {
            DashboardIdentifier: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  `:cloudwatch::${config.account}:dashboard/cdp-${config.name}`,
                ],
              ],
            },
          },
        ],
      });
    }
    resilience.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('grants S3 access-log delivery by bucket policy, never by the legacy LogDeliveryWrite ACL', () => {
    const buckets = Object.values(resilience.findResources('AWS::S3::Bucket') as Resources);
    expect(buckets.map((bucket) => bucket.Properties.AccessControl)).toEqual(buckets.map(() => undefined));
    resilience.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' }),
        ]),
      },
    });
  });

  it('owns the configuration bucket the Lambda extension reads, under the name the functions expect', () => {
    resilience.hasResourceProperties('AWS::S3::Bucket', { BucketName: faultConfigurationBucketName(config) });
  });

  it('gives the consumer and query functions the FIS extension, its configuration location and their target tag', () => {
    for (const [template, fragment, target] of [
      [synthesized.consumer, 'ConsumerFunction', 'consumer'],
      [synthesized.query, 'QueryFunction', 'query'],
    ] as const) {
      const [, fn] = only(template, 'AWS::Lambda::Function', fragment);
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables.AWS_LAMBDA_EXEC_WRAPPER).toBe(FIS_EXEC_WRAPPER);
      expect(JSON.stringify(variables.AWS_FIS_CONFIGURATION_LOCATION)).toContain(
        `:s3:::${faultConfigurationBucketName(config)}/${FAULT_CONFIGURATION_PREFIX}`,
      );
      const [layer] = fn.Properties.Layers as unknown[];
      const parameter = template.toJSON().Parameters[referencedId(layer) ?? ''];
      expect(parameter).toMatchObject({
        Type: 'AWS::SSM::Parameter::Value<String>',
        Default: FIS_EXTENSION_LAYER_PARAMETER,
      });
      expect(tagsOf(fn)[FAULT_TARGET_TAG]).toBe(target);
      const reads = Object.values(template.findResources('AWS::IAM::Policy') as Resources)
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
        .filter((s) => JSON.stringify(s.Resource).includes(faultConfigurationBucketName(config)));
      expect(reads.map((s) => s.Action).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
      for (const s of reads) {
        expect(s.Condition).toMatchObject({ StringEquals: { 's3:ResourceAccount': config.account } });
      }
    }
  });

  it('tags the shard clusters, the Redis replication group and the data subnets as targets', () => {
    const clusters = Object.values(synthesized.data.findResources('AWS::RDS::DBCluster') as Resources);
    expect(clusters).toHaveLength(config.data.shardCount);
    for (const cluster of clusters) expect(tagsOf(cluster)[FAULT_TARGET_TAG]).toBe('shard');
    const [, cache] = only(synthesized.data, 'AWS::ElastiCache::ReplicationGroup');
    expect(tagsOf(cache)[FAULT_TARGET_TAG]).toBe('index');
    const dataSubnets = Object.values(
      synthesized.network.findResources('AWS::EC2::Subnet') as Resources,
    ).filter((s) => tagsOf(s)[FAULT_TARGET_TAG] === 'data-subnet');
    expect(dataSubnets).toHaveLength(config.availabilityZoneCount);
    for (const s of dataSubnets) expect(tagsOf(s)['aws-cdk:subnet-name']).toBe('data');
    // Nothing else carries the tag: FIS could only ever select these.
    const tagged = (template: Template) =>
      Object.values(template.toJSON().Resources as Resources).filter(
        (r) => tagsOf(r)[FAULT_TARGET_TAG] !== undefined,
      );
    expect(tagged(synthesized.data)).toHaveLength(config.data.shardCount + 1);
    expect(tagged(synthesized.network)).toHaveLength(config.availabilityZoneCount);
    expect(tagged(synthesized.consumer).map((r) => r.Type)).toEqual(['AWS::Lambda::Function']);
    expect(tagged(synthesized.query).map((r) => r.Type)).toEqual(['AWS::Lambda::Function']);
  });
});

describe('prod without game days', () => {
  const { stage, consumer, query, data, network } = synthesize('prod');

  it('has no resilience stack, no FIS extension and no fault-target tag', () => {
    expect(stage.resilience).toBeUndefined();
    expect(stage.node.children.map((c) => c.node.id)).not.toContain('Resilience');
    for (const template of [consumer, query, data, network]) {
      expect(JSON.stringify(template.toJSON())).not.toContain(FAULT_TARGET_TAG);
      expect(JSON.stringify(template.toJSON())).not.toContain('AWS_FIS_CONFIGURATION_LOCATION');
    }
  });
});

describe('GameDayExperiments', () => {
  const stackWith = (props: { dashboardArn?: string; alarms: number }) => {
    const stack = new Stack(new App(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
    const alarms = Array.from(
      { length: props.alarms },
      (_, i) =>
        new cloudwatch.Alarm(stack, `Alarm${i}`, {
          metric: new cloudwatch.Metric({ namespace: 'Test', metricName: `M${i}` }),
          threshold: 1,
          evaluationPeriods: 1,
        }),
    );
    const experiments = new GameDayExperiments(stack, 'Experiments', {
      environment: 'dev',
      stopConditions: alarms,
      ...(props.dashboardArn === undefined ? {} : { dashboardArn: props.dashboardArn }),
    });
    return { stack, experiments };
  };

  it('captures the dashboard in the report and lets the role read it, when there is one', () => {
    // Prepare
    const dashboardArn = 'arn:aws:cloudwatch::123456789012:dashboard/cdp-dev';
    const { stack, experiments } = stackWith({ dashboardArn, alarms: 1 });
    // Act
    const { role } = experiments.addExperiment({
      scenario: 'shard-failover',
      actionId: 'aws:rds:failover-db-cluster',
      permissions: [
        new iam.PolicyStatement({
          actions: ['rds:FailoverDBCluster'],
          resources: ['arn:aws:rds:eu-west-1:123456789012:cluster:shard-0'],
        }),
      ],
    });
    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      ExperimentReportConfiguration: {
        DataSources: { CloudWatchDashboards: [{ DashboardIdentifier: dashboardArn }] },
      },
    });
    const roleId = stack.getLogicalId(role.node.defaultChild as iam.CfnRole);
    expect(roleActions(template, roleId)).toEqual(
      sorted([
        'rds:FailoverDBCluster',
        ...REPORT_PERMISSIONS,
        'cloudwatch:GetDashboard',
        'cloudwatch:GetMetricWidgetImage',
      ]),
    );
    const getDashboard = statementsOfRole(template, roleId).find(
      (s) => s.Action === 'cloudwatch:GetDashboard',
    );
    expect(getDashboard?.Resource).toBe(dashboardArn);
  });

  it('refuses more stop conditions than FIS accepts, and none at all', () => {
    expect(() => stackWith({ alarms: 6 })).toThrow(/1 to 5 stop conditions, got 6/);
    expect(() => stackWith({ alarms: 0 })).toThrow(/got 0/);
  });

  it('refuses to define a scenario twice', () => {
    const { experiments } = stackWith({ alarms: 1 });
    const definition = {
      scenario: 'query-errors',
      actionId: 'aws:lambda:invocation-error',
      permissions: [],
    } as const;
    experiments.addExperiment(definition);
    expect(() => experiments.addExperiment(definition)).toThrow(/defined twice/);
  });
});
