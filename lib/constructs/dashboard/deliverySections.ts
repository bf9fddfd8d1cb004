import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { ETL_METRIC_NAMES, SERVICES } from '../../../lambdas/shared/contracts/index.js';
import { GRAPH_PERIOD, platformMetric } from './platformMetric.js';
import type { SectionBuilder } from './SectionBuilder.js';

/** The sections of what ships and what is derived: deployments and the ETL (§7, §9). */

/** §7: errors and duration by version, the pre-traffic probes, redriven events. */
export function badDeployment(b: SectionBuilder): void {
  const { props } = b;
  b.section(7);
  const byVersion = (fn: lambda.IFunction, metricName: string, statistic: string) =>
    new cloudwatch.MathExpression({
      expression:
        `SEARCH('{AWS/Lambda,FunctionName,Resource,ExecutedVersion} MetricName="${metricName}" ` +
        `FunctionName="${fn.functionName}"', '${statistic}', ${GRAPH_PERIOD.toSeconds()})`,
      usingMetrics: {},
      period: GRAPH_PERIOD,
      label: '',
    });
  const guarded: ReadonlyArray<[string, lambda.IFunction]> = [
    ['consumer', props.consumer],
    ['ingest', props.ingest],
    ['query', props.query],
  ];
  b.custom(
    'Versions behind the live alias',
    'During a canary the new version is a line of its own; CodeDeploy rolls back when the alarms above fire.',
    [
      ...guarded.map(([name, fn]) => ({
        title: `${name}: errors by version`,
        metrics: [byVersion(fn, 'Errors', 'Sum')],
      })),
      ...guarded.map(([name, fn]) => ({
        title: `${name}: duration p99 by version (ms)`,
        metrics: [byVersion(fn, 'Duration', 'p99')],
      })),
      {
        title: 'Pre-traffic probe errors',
        metrics: props.probes.map((probe) =>
          probe.metricErrors({ statistic: cloudwatch.Stats.SUM, period: GRAPH_PERIOD }),
        ),
      },
    ],
  );
}

/** §9: warehouse staleness, failed and re-run batches, ETL executions. */
export function etlFails(b: SectionBuilder): void {
  const { facade, props } = b;
  b.section(9);
  const recovery = (name: string, statistic: string = cloudwatch.Stats.MAXIMUM) =>
    platformMetric(SERVICES.etlRecovery, name, { statistic });
  b.custom(
    'Warehouse freshness and batches',
    'The recovery job re-runs FAILED batches and reports staleness.',
    [
      { title: 'Warehouse staleness (s)', metrics: [recovery(ETL_METRIC_NAMES.warehouseStalenessSeconds)] },
      {
        title: 'Failed, abandoned and re-run batches',
        metrics: [
          recovery(ETL_METRIC_NAMES.failedBatches),
          recovery(ETL_METRIC_NAMES.abandonedBatches),
          recovery(ETL_METRIC_NAMES.batchRerunsStarted, 'Sum'),
        ],
      },
    ],
  );
  facade.monitorStepFunction({ stateMachine: props.etl, humanReadableName: 'ETL workflow' });
}
