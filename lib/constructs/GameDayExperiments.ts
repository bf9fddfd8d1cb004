import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as fis from 'aws-cdk-lib/aws-fis';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  EXPERIMENT_TAGS,
  FAULT_TARGET_TAG,
  type FaultTarget,
  GAME_DAY_SCENARIOS,
  type GameDayScenarioId,
} from '../gameDays.js';
import { acknowledge, type NagAcknowledgement } from '../nag.js';

/** FIS accepts at most five stop conditions per template. */
export const MAX_STOP_CONDITIONS = 5;

/** Dashboard history the experiment report shows before the experiment starts and after it ends. */
const REPORT_WINDOW = Duration.minutes(15);

/** Key prefix of one experiment's reports in the report bucket. */
export const reportPrefix = (scenario: GameDayScenarioId): string => `reports/${scenario}/`;

export interface GameDayExperimentsProps {
  /** The environment's name; templates and targets carry it as a tag. */
  readonly environment: string;
  /** The environment's critical alarms: any of them in ALARM stops every experiment. */
  readonly stopConditions: readonly cloudwatch.IAlarm[];
  /** A CloudWatch dashboard whose widgets each experiment report captures. @default - reports without one */
  readonly dashboardArn?: string;
  /** What happens to the reports and their key when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** The resources one action selects: by resource type and tags, never by ARN. */
export interface ExperimentTarget {
  /** The action's target key (`Clusters`, `Functions`, `Subnets`, `ReplicationGroups`). */
  readonly key: string;
  readonly resourceType: string;
  /** Value of the `cdp:fault-target` tag; the environment tag is always required too. */
  readonly target: FaultTarget;
  /** `ALL`, `COUNT(n)` or `PERCENT(n)`. */
  readonly selectionMode: string;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly filters?: ReadonlyArray<{ readonly path: string; readonly values: readonly string[] }>;
}

export interface ExperimentDefinition {
  readonly scenario: GameDayScenarioId;
  readonly actionId: string;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly target?: ExperimentTarget;
  /** Exactly what the action needs (the FIS actions reference), on the narrowest resources it allows. */
  readonly permissions: readonly iam.PolicyStatement[];
  /** Actions of `permissions` granted on Resource "*", each with the reason nothing narrower works. */
  readonly wildcardResourceActions?: ReadonlyArray<{ readonly action: string; readonly reason: string }>;
  /** Findings of the role's other wildcard resources (patterns), each with its reason. */
  readonly acknowledgements?: readonly NagAcknowledgement[];
}

export interface GameDayExperiment {
  readonly template: fis.CfnExperimentTemplate;
  readonly role: iam.Role;
}

/**
 * The FIS experiment templates of one environment's game days. Each experiment gets a role of its own,
 * holding exactly what its action needs; selects its targets by tag (and the environment tag), failing when
 * none match; stops when any of the environment's critical alarms fires; and writes its report (with the
 * dashboard, when there is one) to a KMS-encrypted bucket whose access is logged.
 */
export class GameDayExperiments extends Construct {
  public readonly reportKey: kms.Key;
  public readonly reportBucket: s3.Bucket;
  /** Server access logs of the report bucket (and of the FIS configuration bucket). */
  public readonly accessLogBucket: s3.Bucket;
  private readonly experiments = new Map<GameDayScenarioId, GameDayExperiment>();
  private readonly props: GameDayExperimentsProps;

  public constructor(scope: Construct, id: string, props: GameDayExperimentsProps) {
    super(scope, id);
    if (props.stopConditions.length === 0 || props.stopConditions.length > MAX_STOP_CONDITIONS) {
      throw new Error(
        `GameDayExperiments needs 1 to ${MAX_STOP_CONDITIONS} stop conditions, got ${props.stopConditions.length}`,
      );
    }
    this.props = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging delivers only to buckets with SSE-S3 encryption.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy,
    });
    acknowledge(this.accessLogBucket, {
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the server access log destination of the game-day buckets; logging its own access ' +
        'would log every log delivery into itself',
    });

    this.reportKey = new kms.Key(this, 'ReportKey', {
      description: `FIS experiment reports of ${props.environment}`,
      enableKeyRotation: true,
      removalPolicy,
    });
    this.reportBucket = new s3.Bucket(this, 'Reports', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.reportKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'reports/',
      removalPolicy,
    });
  }

  /** The experiment of `scenario`, once added. */
  public experiment(scenario: GameDayScenarioId): GameDayExperiment | undefined {
    return this.experiments.get(scenario);
  }

  /**
   * Adds the template of one scenario, with its own role.
   * @throws {Error} when the scenario was added already
   */
  public addExperiment(definition: ExperimentDefinition): GameDayExperiment {
    const { scenario } = definition;
    if (this.experiments.has(scenario)) throw new Error(`Experiment ${scenario} is defined twice`);
    const stack = Stack.of(this);
    const description = GAME_DAY_SCENARIOS.find((s) => s.id === scenario)?.description ?? scenario;

    const role = new iam.Role(this, `${scenario}-role`, {
      description: `FIS experiment ${scenario} (${this.props.environment})`,
      assumedBy: new iam.ServicePrincipal('fis.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({ service: 'fis', resource: 'experiment', resourceName: '*' }),
          },
        },
      }),
    });
    for (const statement of definition.permissions) role.addToPolicy(statement);
    const wildcards = [...(definition.wildcardResourceActions ?? []), ...this.grantReporting(role, scenario)];
    if (wildcards.length > 0) {
      acknowledge(role, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: [
          ...wildcards.map(({ action, reason }) => `${action}: ${reason}`),
          'no other action of this role is granted on Resource "*"',
        ].join('; '),
      });
    }
    if (definition.acknowledgements !== undefined && definition.acknowledgements.length > 0) {
      acknowledge(role, ...definition.acknowledgements);
    }

    const { target } = definition;
    const template = new fis.CfnExperimentTemplate(this, scenario, {
      description,
      roleArn: role.roleArn,
      stopConditions: this.props.stopConditions.map((alarm) => ({
        source: 'aws:cloudwatch:alarm',
        value: alarm.alarmArn,
      })),
      targets:
        target === undefined
          ? {}
          : {
              [target.key]: {
                resourceType: target.resourceType,
                resourceTags: { [FAULT_TARGET_TAG]: target.target, environment: this.props.environment },
                selectionMode: target.selectionMode,
                ...(target.parameters === undefined ? {} : { parameters: { ...target.parameters } }),
                ...(target.filters === undefined
                  ? {}
                  : { filters: target.filters.map((f) => ({ path: f.path, values: [...f.values] })) }),
              },
            },
      actions: {
        [scenario]: {
          actionId: definition.actionId,
          description,
          ...(definition.parameters === undefined ? {} : { parameters: { ...definition.parameters } }),
          ...(target === undefined ? {} : { targets: { [target.key]: target.key } }),
        },
      },
      experimentOptions: { accountTargeting: 'single-account', emptyTargetResolutionMode: 'fail' },
      experimentReportConfiguration: {
        outputs: {
          experimentReportS3Configuration: {
            bucketName: this.reportBucket.bucketName,
            prefix: reportPrefix(scenario),
          },
        },
        ...(this.props.dashboardArn === undefined
          ? {}
          : { dataSources: { cloudWatchDashboards: [{ dashboardIdentifier: this.props.dashboardArn }] } }),
        preExperimentDuration: `PT${REPORT_WINDOW.toMinutes()}M`,
        postExperimentDuration: `PT${REPORT_WINDOW.toMinutes()}M`,
      },
      tags: {
        Name: `cdp-${this.props.environment}-${scenario}`,
        [EXPERIMENT_TAGS.environment]: this.props.environment,
        [EXPERIMENT_TAGS.scenario]: scenario,
      },
    });
    const experiment = { template, role };
    this.experiments.set(scenario, experiment);
    return experiment;
  }

  /**
   * Writing the report under the experiment's own prefix, and reading the dashboard it captures.
   * @returns the actions granted on Resource "*", with their reasons
   */
  private grantReporting(
    role: iam.Role,
    scenario: GameDayScenarioId,
  ): Array<{ action: string; reason: string }> {
    const objects = this.reportBucket.arnForObjects(`${reportPrefix(scenario)}*`);
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:GetObject'], resources: [objects] }),
    );
    this.reportKey.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
    const bucketId = Stack.of(this).getLogicalId(this.reportBucket.node.defaultChild as s3.CfnBucket);
    acknowledge(role, {
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${reportPrefix(scenario)}*]`,
      reason:
        'FIS names each report object per experiment run; the role may write and read back objects under ' +
        "its own scenario's prefix of the report bucket only",
    });
    if (this.props.dashboardArn === undefined) return [];
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['cloudwatch:GetDashboard'], resources: [this.props.dashboardArn] }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricWidgetImage'], resources: ['*'] }),
    );
    return [
      {
        action: 'cloudwatch:GetMetricWidgetImage',
        reason:
          'renders the dashboard widgets into the report; CloudWatch supports no resource-level permission for it',
      },
    ];
  }
}
