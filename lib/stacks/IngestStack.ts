import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import {
  DIMENSIONS,
  ENV,
  INGEST_METRIC_NAMES,
  METRIC_NAMESPACE,
  ROUTES,
  SERVICES,
} from '../../lambdas/shared/contracts/index.js';
import { GuardedFunction } from '../constructs/GuardedFunction.js';
import { PlatformFunction } from '../constructs/PlatformFunction.js';
import type { PlatformHttpApi } from '../constructs/PlatformHttpApi.js';
import { PreTrafficProbe } from '../constructs/PreTrafficProbe.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { SpilloverQueue } from '../constructs/SpilloverQueue.js';
import { scenarioAlarmName } from '../constructs/scenarioAlarmName.js';
import { scheduleInvocation } from '../constructs/scheduleInvocation.js';
import type { DataStack } from './DataStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { StreamingStack } from './StreamingStack.js';

export interface IngestStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly streaming: StreamingStack;
  readonly data: DataStack;
  /** The platform's HTTP API (from the API stack); this stack adds the ingest routes to it. */
  readonly api: PlatformHttpApi;
}

/** Namespace of the ingest path's own Powertools metrics (publisher and drainer alike). */
export const INGEST_METRICS_NAMESPACE = METRIC_NAMESPACE;
/**
 * The `service` dimension of those metrics. The drainer publishes under it too (its handler's Metrics
 * instance says `ingest`), so `Drained`, `PublishErrors` and `BreakerOpen` cover both functions.
 */
const INGEST_SERVICE = SERVICES.ingest;
const DRAINER_NAME = 'spillover-drainer';

/** Most of the work is waiting on Kafka, SQS and Redis; memory buys the CPU that gzips each batch. */
const INGEST_MEMORY_MIB = 512;
/**
 * Above the publisher's worst case (3 s on the brokers, then 2.5 s writing the spillover) and well below the
 * HTTP API's 30 s integration timeout, so a stuck invocation ends as a function error the alarms count.
 */
const INGEST_TIMEOUT = Duration.seconds(10);

/** How often the drainer runs; the drain-stalled alarm counts in these periods. */
const DRAIN_INTERVAL = Duration.minutes(1);
/**
 * Below the interval, so drains do not overlap (the handler starts no pass in its last 15 s). A pass cut
 * short leaves its chunk unacknowledged: it is delivered again and republished, which consumers absorb.
 */
const DRAIN_TIMEOUT = Duration.seconds(55);
/** Republishes 500-event chunks, gzipped; memory buys that CPU. */
const DRAINER_MEMORY_MIB = 512;

/** A spilled event older than this means the drain is not keeping up (or not running). */
const SPILL_AGE_ALARM = Duration.minutes(5);
/** Minutes with events waiting and none drained before the drain counts as stalled. */
const DRAIN_STALLED_MINUTES = 10;
/** Consecutive minutes with failed produce requests before operators hear of it. */
const PUBLISH_ERROR_MINUTES = 2;

/**
 * The event ingestion API: the routes `POST /v1/events` and `POST /v1/events/batch` of the platform's
 * IAM-authorized HTTP API (owned by the API stack), served by a guarded ingest function that validates
 * events, deduplicates `Idempotency-Key`s in the Redis index and publishes to the consumer's topic.
 *
 * When the brokers fail or are slow, accepted events go to a durable spillover: an SQS FIFO queue
 * (MessageGroupId = customerId, MessageDeduplicationId = eventId) encrypted with its own rotating key.
 * A drainer function, run every minute by EventBridge Scheduler, republishes them in spill order once
 * the brokers are healthy. The spillover is bounded: past `ingest.spilloverMaxDepth` events requests get
 * 503 with Retry-After.
 *
 * Environment of the ingest function: `TOPIC`, `CLUSTER_ARN` (brokers discovered with
 * GetBootstrapBrokers), `REDIS_HOST`, `REDIS_PORT`, `REDIS_AUTH_SECRET_ARN`, `SPILLOVER_QUEUE_URL`,
 * `SPILLOVER_MAX_DEPTH`. Of the drainer: `TOPIC`, `CLUSTER_ARN`, `SPILLOVER_QUEUE_URL`.
 *
 * Deployments of the ingest function shift traffic by the configured strategy and roll back on errors or
 * a slow p99. The spillover alarms (depth, age of the oldest event, drain stalled) and the broker alarms
 * (publish errors, breaker open) follow the brokers' health, not the code's: they notify operators but
 * never roll back a deployment.
 */
export class IngestStack extends PlatformStack {
  public readonly ingest: GuardedFunction;
  /** The ingest function's BeforeAllowTraffic hook. */
  public readonly preTrafficProbe: PreTrafficProbe;
  public readonly spillover: SpilloverQueue;
  public readonly drainer: PlatformFunction;
  public readonly drainSchedule: scheduler.Schedule;
  public readonly spillDepthAlarm: cloudwatch.Alarm;
  public readonly spillAgeAlarm: cloudwatch.Alarm;
  public readonly drainStalledAlarm: cloudwatch.Alarm;
  public readonly publishErrorsAlarm: cloudwatch.Alarm;
  public readonly breakerOpenAlarm: cloudwatch.Alarm;

  public constructor(scope: Construct, id: string, props: IngestStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { data, streaming } = props;
    const { cluster } = streaming;
    const topic = config.consumer.topic;
    // The environment's producer configuration, for the ingest function and the drainer alike.
    const producerEnvironment = {
      [ENV.producerCompression]: config.ingest.producer.compression,
      [ENV.producerMaxRecordsPerRequest]: String(config.ingest.producer.maxRecordsPerRequest),
    };
    const placement = {
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: config.retention.logRetentionDays,
      logRemovalPolicy: removalPolicyOf(config.retention),
    };

    this.spillover = new SpilloverQueue(this, 'Spillover', {
      description: `the ${config.name} ingest API, waiting for the brokers`,
    });

    this.ingest = new GuardedFunction(this, 'Ingest', {
      name: INGEST_SERVICE,
      description: `Accepts customer events from the HTTP API and publishes them to ${topic}`,
      ...placement,
      memorySize: INGEST_MEMORY_MIB,
      timeout: INGEST_TIMEOUT,
      environment: {
        [ENV.topic]: topic,
        [ENV.clusterArn]: cluster.clusterArn,
        [ENV.redisHost]: data.cache.primaryEndpoint.hostname,
        [ENV.redisPort]: Token.asString(data.cache.primaryEndpoint.port),
        [ENV.redisAuthSecretArn]: data.cache.authSecret.secretArn,
        [ENV.spilloverQueueUrl]: this.spillover.queueUrl,
        [ENV.spilloverMaxDepth]: String(config.ingest.spilloverMaxDepth),
        ...producerEnvironment,
        [ENV.powertoolsMetricsNamespace]: INGEST_METRICS_NAMESPACE,
      },
      deploymentStrategy: config.deployment.strategy,
      thresholds: config.alarms,
    });
    cluster.grantProduce(this.ingest, [topic]);
    data.cache.grantConnect(this.ingest);
    // The publisher only writes the spillover and reads its depth; draining is the drainer's.
    this.spillover.grantSpill(this.ingest);
    // Scenario 7: a new version must accept a probe event and refuse a malformed one before traffic shifts.
    this.preTrafficProbe = new PreTrafficProbe(this, 'PreTrafficProbe', {
      guarded: this.ingest,
      code: 'api-probe',
      name: 'ingest-probe',
      namePrefix: `cdp-${config.name}`,
      environment: { [ENV.probedApi]: 'ingest' },
      ...placement,
    });

    props.api.addVersionedRoutes(ROUTES.ingestOne.version, [
      { method: HttpMethod.POST, path: ROUTES.ingestOne.path, handler: this.ingest.alias },
      { method: HttpMethod.POST, path: ROUTES.ingestBatch.path, handler: this.ingest.alias },
    ]);

    this.drainer = new PlatformFunction(this, 'Drainer', {
      name: DRAINER_NAME,
      description: `Republishes spilled customer events to ${topic} once the brokers are healthy`,
      ...placement,
      memorySize: DRAINER_MEMORY_MIB,
      timeout: DRAIN_TIMEOUT,
      environment: {
        [ENV.topic]: topic,
        [ENV.clusterArn]: cluster.clusterArn,
        [ENV.spilloverQueueUrl]: this.spillover.queueUrl,
        ...producerEnvironment,
        [ENV.powertoolsMetricsNamespace]: INGEST_METRICS_NAMESPACE,
      },
    });
    cluster.grantProduce(this.drainer, [topic]);
    this.spillover.grantDrain(this.drainer);
    // A failed drain is not retried: the next one starts a minute later from the same queue.
    this.drainSchedule = scheduleInvocation(this, 'DrainSchedule', this.drainer, {
      interval: DRAIN_INTERVAL,
      description: 'Republishes the ingest spillover to the brokers, every minute',
      scheduleGroup: new scheduler.ScheduleGroup(this, 'Schedules', {
        scheduleGroupName: `cdp-${this.config.name}-ingest`,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });

    const ingestMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: INGEST_METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [DIMENSIONS.service]: INGEST_SERVICE },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.SUM,
      });

    const { spillDepthAlarm } = config.ingest;
    this.spillDepthAlarm = new cloudwatch.Alarm(this, 'SpillDepthAlarm', {
      alarmDescription:
        `${INGEST_SERVICE}: more than ${spillDepthAlarm} accepted events wait in the spillover for the ` +
        `brokers; at ${config.ingest.spilloverMaxDepth} new requests are refused with 503`,
      metric: this.spillover.metricDepth(),
      threshold: spillDepthAlarm,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS stops publishing for a queue idle for hours: an idle spillover is an empty one.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.spillAgeAlarm = new cloudwatch.Alarm(this, 'SpillAgeAlarm', {
      alarmDescription:
        `${INGEST_SERVICE}: a spilled event has waited more than ${SPILL_AGE_ALARM.toMinutes()} minutes ` +
        'to be republished; consumers see it late',
      metric: this.spillover.metricAgeOfOldest(),
      threshold: SPILL_AGE_ALARM.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.drainStalledAlarm = new cloudwatch.Alarm(this, 'DrainStalledAlarm', {
      alarmDescription:
        `${INGEST_SERVICE}: spilled events waited in each of ${DRAIN_STALLED_MINUTES} minutes and none was ` +
        'republished; check the drainer and the broker alarms',
      // `Drained` is published only when a pass republished something: a missing minute drained nothing.
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(depth, 0) > 0 AND FILL(drained, 0) == 0, 1, 0)',
        usingMetrics: {
          depth: this.spillover.metricDepth(),
          drained: ingestMetric(INGEST_METRIC_NAMES.drained),
        },
        period: Duration.minutes(1),
        label: 'Minutes with spilled events waiting and none drained',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: DRAIN_STALLED_MINUTES,
      datapointsToAlarm: DRAIN_STALLED_MINUTES,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.publishErrorsAlarm = new cloudwatch.Alarm(this, 'PublishErrorsAlarm', {
      alarmName: scenarioAlarmName(`cdp-${this.config.name}`, 1, 'publish-errors'),
      alarmDescription:
        `${INGEST_SERVICE}: produce requests to ${topic} failed in each of ${PUBLISH_ERROR_MINUTES} ` +
        'minutes; accepted events are being spilled',
      metric: ingestMetric(INGEST_METRIC_NAMES.publishErrors),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: PUBLISH_ERROR_MINUTES,
      datapointsToAlarm: PUBLISH_ERROR_MINUTES,
      // Published only on failure.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.breakerOpenAlarm = new cloudwatch.Alarm(this, 'BreakerOpenAlarm', {
      alarmDescription:
        `${INGEST_SERVICE}: the brokers' circuit breaker opened; accepted events go to the spillover ` +
        'until a probe succeeds',
      metric: ingestMetric(INGEST_METRIC_NAMES.breakerOpen),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // Notify only: these follow the brokers' health. Gating deployments on them would roll back good
    // versions, and block fixes, whenever MSK is impaired.
    const notify = new actions.SnsAction(this.ingest.alarmTopic);
    for (const alarm of [
      this.spillDepthAlarm,
      this.spillAgeAlarm,
      this.drainStalledAlarm,
      this.publishErrorsAlarm,
      this.breakerOpenAlarm,
    ]) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
  }
}
