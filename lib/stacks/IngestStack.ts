import { type CfnElement, Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { ENV, METRIC_NAMESPACE, ROUTES, SERVICES } from '../../lambdas/shared/contracts/index.js';
import { GuardedFunction } from '../constructs/GuardedFunction.js';
import { IngestBrokerAlarms } from '../constructs/IngestBrokerAlarms.js';
import { PlatformFunction } from '../constructs/PlatformFunction.js';
import type { PlatformHttpApi } from '../constructs/PlatformHttpApi.js';
import { PreTrafficProbe } from '../constructs/PreTrafficProbe.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { SpilloverQueue } from '../constructs/SpilloverQueue.js';
import { scheduleInvocation } from '../constructs/scheduleInvocation.js';
import { logicalIdWithout } from '../constructs/stackLevelLogicalIds.js';
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
/** The `service` dimension of those metrics, the drainer's included (see `IngestBrokerAlarms`). */
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
 * never roll back a deployment ({@link IngestBrokerAlarms}).
 */
export class IngestStack extends PlatformStack {
  public readonly ingest: GuardedFunction;
  /** The ingest function's BeforeAllowTraffic hook. */
  public readonly preTrafficProbe: PreTrafficProbe;
  public readonly spillover: SpilloverQueue;
  public readonly drainer: PlatformFunction;
  public readonly drainSchedule: scheduler.Schedule;
  /** The spillover and broker alarms: they notify operators and never roll back a deployment. */
  public readonly brokerAlarms: IngestBrokerAlarms;

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

    this.brokerAlarms = new IngestBrokerAlarms(this, 'BrokerAlarms', {
      namePrefix: `cdp-${config.name}`,
      topic,
      spillover: this.spillover,
      settings: config.ingest,
      alarmTopic: this.ingest.alarmTopic,
    });
  }

  /**
   * The broker alarms were created in this stack itself before they moved into their construct: they keep
   * the logical ids they had then.
   */
  protected override allocateLogicalId(element: CfnElement): string {
    return (
      logicalIdWithout(element, (scope) => scope instanceof IngestBrokerAlarms) ??
      super.allocateLogicalId(element)
    );
  }
}
