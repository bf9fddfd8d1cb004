import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmsOf, alarmVerdict } from '../support/metricContract.js';
import { synthesize } from '../support/synth.js';
import { brokerOutageAtIngest, type ScenarioRun } from './scenarios.js';

const runs: ScenarioRun[] = [];

describe('metrics contract', () => {
  beforeAll(async () => {
    runs.push(await brokerOutageAtIngest());
  });

  afterAll(() => {
    runs.length = 0;
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
});
