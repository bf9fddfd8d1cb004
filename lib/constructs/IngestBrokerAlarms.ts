import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  DIMENSIONS,
  INGEST_METRIC_NAMES,
  METRIC_NAMESPACE,
  SERVICES,
} from '../../lambdas/shared/contracts/index.js';
import type { EnvironmentConfig } from '../config/index.js';
import type { SpilloverQueue } from './SpilloverQueue.js';
import { scenarioAlarmName } from './scenarioAlarmName.js';

/**
 * The `service` dimension of the ingest path's metrics. The drainer publishes under it too (its handler's
 * Metrics instance says `ingest`), so `Drained`, `PublishErrors` and `BreakerOpen` cover both functions.
 */
const INGEST_SERVICE = SERVICES.ingest;

/** A spilled event older than this means the drain is not keeping up (or not running). */
const SPILL_AGE_ALARM = Duration.minutes(5);
/** Minutes with events waiting and none drained before the drain counts as stalled. */
const DRAIN_STALLED_MINUTES = 10;
/** Consecutive minutes with failed produce requests before operators hear of it. */
const PUBLISH_ERROR_MINUTES = 2;

export interface IngestBrokerAlarmsProps {
  /** `cdp-<env>`: the scenario alarm's name starts with it. */
  readonly namePrefix: string;
  /** The topic the ingest function and the drainer publish to; named in the descriptions. */
  readonly topic: string;
  readonly spillover: SpilloverQueue;
  /** `spillDepthAlarm` is the depth threshold; `spilloverMaxDepth` is named in its description. */
  readonly settings: Pick<EnvironmentConfig['ingest'], 'spillDepthAlarm' | 'spilloverMaxDepth'>;
  /** Told when an alarm fires and when it returns to OK. */
  readonly alarmTopic: sns.ITopic;
}

/**
 * The alarms of the ingest path that follow the brokers' health rather than the code's: the spillover's
 * depth, the age of its oldest event and a stalled drain, failed produce requests (scenario 1) and the
 * brokers' circuit breaker opening. They notify operators (ALARM and OK) and never gate a deployment:
 * rolling back on them would undo good versions, and block fixes, whenever MSK is impaired.
 */
export class IngestBrokerAlarms extends Construct {
  public readonly spillDepthAlarm: cloudwatch.Alarm;
  public readonly spillAgeAlarm: cloudwatch.Alarm;
  public readonly drainStalledAlarm: cloudwatch.Alarm;
  public readonly publishErrorsAlarm: cloudwatch.Alarm;
  public readonly breakerOpenAlarm: cloudwatch.Alarm;

  public constructor(scope: Construct, id: string, props: IngestBrokerAlarmsProps) {
    super(scope, id);
    const { spillover, settings, topic } = props;

    this.spillDepthAlarm = new cloudwatch.Alarm(this, 'SpillDepthAlarm', {
      alarmDescription:
        `${INGEST_SERVICE}: more than ${settings.spillDepthAlarm} accepted events wait in the spillover for the ` +
        `brokers; at ${settings.spilloverMaxDepth} new requests are refused with 503`,
      metric: spillover.metricDepth(),
      threshold: settings.spillDepthAlarm,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS stops publishing for a queue idle for hours: an idle spillover is an empty one.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.spillAgeAlarm = new cloudwatch.Alarm(this, 'SpillAgeAlarm', {
      alarmDescription:
        `${INGEST_SERVICE}: a spilled event has waited more than ${SPILL_AGE_ALARM.toMinutes()} minutes ` +
        'to be republished; consumers see it late',
      metric: spillover.metricAgeOfOldest(),
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
          depth: spillover.metricDepth(),
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
      alarmName: scenarioAlarmName(props.namePrefix, 1, 'publish-errors'),
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

    const notify = new actions.SnsAction(props.alarmTopic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
  }

  /** Every alarm of the construct. */
  public get alarms(): cloudwatch.Alarm[] {
    return [
      this.spillDepthAlarm,
      this.spillAgeAlarm,
      this.drainStalledAlarm,
      this.publishErrorsAlarm,
      this.breakerOpenAlarm,
    ];
  }
}

/** A per-minute sum of one of the ingest path's own Powertools metrics. */
const ingestMetric = (metricName: string): cloudwatch.Metric =>
  new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    dimensionsMap: { [DIMENSIONS.service]: INGEST_SERVICE },
    period: Duration.minutes(1),
    statistic: cloudwatch.Stats.SUM,
  });
