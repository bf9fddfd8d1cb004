import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentName } from '../../lib/config/index.js';
import { PostgresServer } from '../../local/services/index.js';
import {
  alarmsOf,
  alarmVerdict,
  dashboardMetricsOf,
  loadAwsMetricTable,
  verdictFor,
} from '../support/metricContract.js';
import { stackTemplates, synthesize } from '../support/synth.js';
import {
  brokerLost,
  brokerOutageAtIngest,
  cacheFailedOver,
  drainerPass,
  etlStale,
  redisDownAtQuery,
  type ScenarioRun,
  shardDownAtConsumer,
} from './scenarios.js';

const ENVIRONMENTS: readonly EnvironmentName[] = ['dev', 'uat', 'prod'];
const AWS_TABLE = loadAwsMetricTable(join(import.meta.dirname, '../../docs/aws-metrics.md'));

const runs: ScenarioRun[] = [];
let postgres: PostgresServer | undefined;

describe('metrics contract', () => {
  beforeAll(async () => {
    // One at a time: each scenario imports its function's entry point afresh and stubs the environment.
    runs.push(await brokerOutageAtIngest());
    runs.push(await drainerPass());
    runs.push(await brokerLost());
    runs.push(await cacheFailedOver());
    postgres = await PostgresServer.start({ name: 'metrics-contract' });
    runs.push(await redisDownAtQuery(postgres));
    runs.push(await etlStale(postgres));
    runs.push(await shardDownAtConsumer(postgres));
  }, 300_000);

  afterAll(async () => {
    await postgres?.destroy();
  });

  it('feeds every platform alarm of the ingest stack from the ingest handler during a broker outage', () => {
    // Prepare
    const alarms = alarmsOf({ ingest: synthesize('prod').ingest }).filter((alarm) =>
      alarm.metrics.every((metric) => !metric.namespace.startsWith('AWS/')),
    );

    // Act
    const verdicts = alarms.map((alarm) => ({ alarm: alarm.logicalId, ...alarmVerdict(alarm, runs, []) }));

    // Assess
    expect(alarms.length).toBeGreaterThan(0);
    expect(verdicts.filter((v) => !v.matched)).toEqual([]);
  });

  it.each(ENVIRONMENTS)(
    'matches every alarm and dashboard metric of %s to an emitted or documented metric',
    (name) => {
      // Prepare
      const templates = stackTemplates(synthesize(name));
      const alarms = alarmsOf(templates);
      const dashboards = dashboardMetricsOf(templates);

      // Act
      const alarmVerdicts = alarms.map((alarm) => ({
        alarm: alarm.alarmName ?? `${alarm.stack}/${alarm.logicalId}`,
        ...alarmVerdict(alarm, runs, AWS_TABLE),
      }));
      const widgetVerdicts = dashboards.metrics.map((metric) => ({
        metric: `${metric.namespace} ${metric.name} ${JSON.stringify(metric.dimensions)}`,
        ...verdictFor(metric, runs, AWS_TABLE),
      }));

      // Assess
      const matchedAlarms = alarmVerdicts.filter((v) => v.matched).length;
      const matchedWidgets = widgetVerdicts.filter((v) => v.matched).length;
      process.stderr.write(
        `metrics contract ${name}: alarms checked ${alarms.length}, matched ${matchedAlarms}; ` +
          `dashboard widgets ${dashboards.widgets}, widget metrics checked ${dashboards.metrics.length}, ` +
          `matched ${matchedWidgets}\n`,
      );
      expect(alarms.length).toBeGreaterThan(0);
      expect(alarmVerdicts.filter((v) => !v.matched)).toEqual([]);
      expect(widgetVerdicts.filter((v) => !v.matched)).toEqual([]);
    },
  );

  it('names at least one alarm after each of the nine failure scenarios in every environment', () => {
    for (const name of ENVIRONMENTS) {
      const names = alarmsOf(stackTemplates(synthesize(name))).map((alarm) => alarm.alarmName ?? '');
      const scenarios = [1, 2, 3, 4, 5, 6, 7, 8, 9].filter((n) =>
        names.some(
          (alarmName) => alarmName.startsWith(`cdp-${name}-s${n}-`) || alarmName.includes(`-s${n}-`),
        ),
      );
      expect({ name, scenarios }).toEqual({ name, scenarios: [1, 2, 3, 4, 5, 6, 7, 8, 9] });
    }
  });
});
