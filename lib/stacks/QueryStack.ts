import { Duration, Token } from 'aws-cdk-lib';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import {
  DIMENSIONS,
  ENV,
  METRIC_NAMESPACE,
  QUERY_METRIC_NAMES,
  ROUTES,
  SERVICES,
} from '../../lambdas/shared/contracts/index.js';
import { resilienceEnabled } from '../config/index.js';
import { attachFaultInjectionExtension } from '../constructs/attachFaultInjectionExtension.js';
import { GuardedFunction } from '../constructs/GuardedFunction.js';
import type { PlatformHttpApi } from '../constructs/PlatformHttpApi.js';
import { PreTrafficProbe } from '../constructs/PreTrafficProbe.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { shardMapEnvironment } from '../constructs/shardMapEnvironment.js';
import { FAULT_TARGETS, faultConfigurationBucketName } from '../gameDays.js';
import type { DataStack } from './DataStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';

export interface QueryStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly data: DataStack;
  /** The platform's HTTP API (from the API stack); this stack adds the query routes to it. */
  readonly api: PlatformHttpApi;
}

/** Namespace of the query function's own Powertools metrics. */
export const QUERY_METRICS_NAMESPACE = METRIC_NAMESPACE;
/** Powertools service name of the query function, the `service` dimension of its metrics. */
const QUERY_SERVICE = SERVICES.query;
/** 1 for each global look-up (by email or phone) made while the Redis index is bypassed, else 0. */
const FALLBACK_METRIC = QUERY_METRIC_NAMES.fallbackMode;
/** Consecutive minutes in fallback mode before operators hear of it. */
const FALLBACK_MINUTES = 3;

/** The work is I/O (Data API calls, Redis lookups); memory mostly buys the SDK clients and a warm connection. */
const QUERY_MEMORY_MIB = 512;
/**
 * Well below the HTTP API's 30 s integration timeout, so that a stuck invocation ends as a function
 * error the alarms count, not as a gateway timeout the function never sees.
 */
const QUERY_TIMEOUT = Duration.seconds(10);

/**
 * The customer query API: the routes `GET /v1/customers/{customerId}` and `GET /v1/customers` of the
 * platform's IAM-authorized HTTP API (owned by the API stack), served by a guarded query function that
 * reads the shards through the Data API and finds customers through the Redis secondary index.
 * Deployments of the function shift traffic by the configured strategy and roll back on errors or a slow
 * p99; answering without the index (fallback mode) notifies operators but never blocks or rolls back a
 * deployment.
 */
export class QueryStack extends PlatformStack {
  public readonly query: GuardedFunction;
  /** The query function's BeforeAllowTraffic hook. */
  public readonly preTrafficProbe: PreTrafficProbe;
  public readonly fallbackModeAlarm: cloudwatch.Alarm;

  public constructor(scope: Construct, id: string, props: QueryStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { data } = props;
    const removalPolicy = removalPolicyOf(config.retention);

    this.query = new GuardedFunction(this, 'Query', {
      name: QUERY_SERVICE,
      description: 'Answers customer queries of the HTTP API from the shards and the Redis index',
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: config.retention.logRetentionDays,
      logRemovalPolicy: removalPolicy,
      memorySize: QUERY_MEMORY_MIB,
      timeout: QUERY_TIMEOUT,
      environment: {
        [ENV.shardMap]: shardMapEnvironment(this, data, QUERY_SERVICE),
        [ENV.redisHost]: data.cache.primaryEndpoint.hostname,
        [ENV.redisPort]: Token.asString(data.cache.primaryEndpoint.port),
        [ENV.redisAuthSecretArn]: data.cache.authSecret.secretArn,
        [ENV.powertoolsMetricsNamespace]: QUERY_METRICS_NAMESPACE,
      },
      deploymentStrategy: config.deployment.strategy,
      thresholds: config.alarms,
    });
    data.grantShardAccess(this.query);
    // Game days (docs/game-days.md): FIS can delay or fail this function's invocations.
    if (resilienceEnabled(config)) {
      attachFaultInjectionExtension(this.query.platformFunction, {
        configurationBucketName: faultConfigurationBucketName(config),
        target: FAULT_TARGETS.query,
      });
    }
    data.cache.grantConnect(this.query);
    // Scenario 7: a new version must keep probe customers out of its answers and refuse a bad request.
    this.preTrafficProbe = new PreTrafficProbe(this, 'PreTrafficProbe', {
      guarded: this.query,
      code: 'api-probe',
      name: 'query-probe',
      namePrefix: `cdp-${config.name}`,
      environment: { [ENV.probedApi]: 'query' },
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: config.retention.logRetentionDays,
      logRemovalPolicy: removalPolicy,
    });

    this.fallbackModeAlarm = new cloudwatch.Alarm(this, 'FallbackModeAlarm', {
      alarmDescription:
        `${QUERY_SERVICE}: global look-ups bypassed the Redis index (scanning every shard) in each of ` +
        `${FALLBACK_MINUTES} minutes; check the cache health alarms`,
      metric: new cloudwatch.Metric({
        namespace: QUERY_METRICS_NAMESPACE,
        metricName: FALLBACK_METRIC,
        dimensionsMap: { [DIMENSIONS.service]: QUERY_SERVICE },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: FALLBACK_MINUTES,
      datapointsToAlarm: FALLBACK_MINUTES,
      // Published with each global look-up; no look-ups means nothing fell back.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // Notify only: fallback follows the cache's health, not the code's. Gating deployments on it would roll
    // back good versions, and block fixes, whenever Redis is impaired.
    const notify = new actions.SnsAction(this.query.alarmTopic);
    this.fallbackModeAlarm.addAlarmAction(notify);
    this.fallbackModeAlarm.addOkAction(notify);

    props.api.addVersionedRoutes(ROUTES.customerById.version, [
      { method: HttpMethod.GET, path: ROUTES.customerById.path, handler: this.query.alias },
      { method: HttpMethod.GET, path: ROUTES.customerLookup.path, handler: this.query.alias },
    ]);
  }
}
