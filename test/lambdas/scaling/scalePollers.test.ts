import { CloudWatchClient, DescribeAlarmsCommand, type StateValue } from '@aws-sdk/client-cloudwatch';
import {
  GetEventSourceMappingCommand,
  LambdaClient,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SCALER_CALL_DEFAULTS } from '../../../lambdas/shared/resilience/defaults.js';
import { scalerCallPolicy } from '../../../lambdas/shared/resilience/named.js';
import { MappingNotReadyError, scalePollers } from '../../../lambdas/shared/scaling/scalePollers.js';
import { ScalerConfigError, scalerEnvironment } from '../../../lambdas/shared/scaling/scalerEnvironment.js';

const lambda = mockClient(LambdaClient);
const cloudwatch = mockClient(CloudWatchClient);
const UUID = '3f1a4a7e-0000-4000-8000-000000000001';
const HIGH = 'cdp-dev-consumer-lag-high';
const LOW = 'cdp-dev-consumer-lag-low';
const MSK_HIGH = 'cdp-dev-consumer-group-lag-high';
const T = 1_800_000_000_000;

afterEach(() => {
  lambda.reset();
  cloudwatch.reset();
});

/** A mapping whose minimum pollers the mocked UpdateEventSourceMapping really changes. */
function mappingAt(minimum: number, lastModified: number, state = 'Enabled') {
  const mapping = { minimum, lastModified, state };
  lambda.on(GetEventSourceMappingCommand, { UUID }).callsFake(async () => ({
    UUID,
    State: mapping.state,
    LastModified: new Date(mapping.lastModified),
    ProvisionedPollerConfig: { MinimumPollers: mapping.minimum, MaximumPollers: 12 },
  }));
  lambda.on(UpdateEventSourceMappingCommand).callsFake(async (input) => {
    mapping.minimum = input.ProvisionedPollerConfig?.MinimumPollers ?? mapping.minimum;
    mapping.lastModified = clock.now;
    return { UUID };
  });
  return mapping;
}

const clock = { now: T };

function alarms(high: StateValue, low: StateValue) {
  cloudwatch.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: [
      { AlarmName: HIGH, StateValue: high },
      { AlarmName: LOW, StateValue: low },
    ],
  });
}

const run = () =>
  scalePollers({
    lambda: new LambdaClient({}),
    cloudwatch: new CloudWatchClient({}),
    mappingUuid: UUID,
    highLagAlarms: [HIGH, MSK_HIGH],
    lowLagAlarm: LOW,
    policy: { floor: 1, ceiling: 6, step: 2, cooldownMillis: 120_000 },
    callPolicy: scalerCallPolicy({
      ...SCALER_CALL_DEFAULTS,
      retryInitialDelayMillis: 1,
      retryMaxDelayMillis: 2,
    }),
    now: () => clock.now,
  });

describe('the lag scaler on the Lambda and CloudWatch APIs (aws-sdk-client-mock)', () => {
  it('raises the minimum pollers one step when the high-lag alarm fires, keeping the maximum', async () => {
    // Prepare
    clock.now = T;
    mappingAt(1, T - 600_000);
    alarms('ALARM', 'OK');
    // Act
    const report = await run();
    // Assess
    expect(report).toMatchObject({ signal: 'high', current: 1, applied: true, decision: { target: 3 } });
    expect(lambda.commandCalls(UpdateEventSourceMappingCommand)[0]?.args[0].input).toEqual({
      UUID,
      ProvisionedPollerConfig: { MinimumPollers: 3, MaximumPollers: 12 },
    });
  });

  it('is idempotent on repeated alarms: one change per cooldown, never above the ceiling', async () => {
    // Prepare
    clock.now = T;
    const mapping = mappingAt(1, T - 600_000);
    alarms('ALARM', 'OK');
    // Act: the alarm event and the schedule run the scaler every 30 s for ten minutes.
    for (let i = 0; i < 20; i += 1) {
      clock.now = T + i * 30_000;
      await run();
    }
    // Assess: 1 → 3 → 5 → 6, each at least the cooldown after the last.
    expect(
      lambda
        .commandCalls(UpdateEventSourceMappingCommand)
        .map((c) => c.args[0].input.ProvisionedPollerConfig?.MinimumPollers),
    ).toEqual([3, 5, 6]);
    expect(mapping.minimum).toBe(6);
  });

  it('lowers the pollers step by step once the lag stays low, never below the floor', async () => {
    clock.now = T;
    const mapping = mappingAt(6, T - 600_000);
    alarms('OK', 'ALARM');
    for (let i = 0; i < 20; i += 1) {
      clock.now = T + i * 60_000;
      await run();
    }
    expect(
      lambda
        .commandCalls(UpdateEventSourceMappingCommand)
        .map((c) => c.args[0].input.ProvisionedPollerConfig?.MinimumPollers),
    ).toEqual([4, 2, 1]);
    expect(mapping.minimum).toBe(1);
  });

  it("scales out when only MSK's own consumer-group lag alarm fires", async () => {
    clock.now = T;
    mappingAt(2, T - 600_000);
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { AlarmName: HIGH, StateValue: 'OK' },
        { AlarmName: MSK_HIGH, StateValue: 'ALARM' },
        { AlarmName: LOW, StateValue: 'OK' },
      ],
    });
    expect(await run()).toMatchObject({ signal: 'high', applied: true, decision: { target: 4 } });
    expect(cloudwatch.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input.AlarmNames).toEqual([
      HIGH,
      MSK_HIGH,
      LOW,
    ]);
  });

  it('changes nothing while the lag is between the thresholds', async () => {
    clock.now = T;
    mappingAt(3, T - 600_000);
    alarms('OK', 'OK');
    const report = await run();
    expect(report).toMatchObject({
      signal: 'normal',
      applied: false,
      decision: { action: 'hold', target: 3 },
    });
    expect(lambda.commandCalls(UpdateEventSourceMappingCommand)).toHaveLength(0);
  });

  it('leaves a mapping that is being updated alone', async () => {
    clock.now = T;
    mappingAt(2, T - 600_000, 'Updating');
    alarms('ALARM', 'OK');
    await expect(run()).rejects.toBeInstanceOf(MappingNotReadyError);
    expect(lambda.commandCalls(UpdateEventSourceMappingCommand)).toHaveLength(0);
  });

  it('retries a throttled call and gives up on a persistent one', async () => {
    clock.now = T;
    mappingAt(1, T - 600_000);
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    cloudwatch
      .on(DescribeAlarmsCommand)
      .rejectsOnce(throttled)
      .resolves({ MetricAlarms: [{ AlarmName: HIGH, StateValue: 'ALARM' }] });
    expect((await run()).applied).toBe(true);
    cloudwatch.reset();
    cloudwatch.on(DescribeAlarmsCommand).rejects(throttled);
    await expect(run()).rejects.toThrow('Rate exceeded');
  });
});

describe('the lag scaler environment', () => {
  const valid = {
    MAPPING_UUID: UUID,
    HIGH_LAG_ALARMS: `${HIGH},${MSK_HIGH}`,
    LOW_LAG_ALARM: LOW,
    SCALING_FLOOR: '1',
    SCALING_CEILING: '6',
    SCALING_STEP: '2',
    SCALING_COOLDOWN_SECONDS: '120',
  };

  it('reads the policy from the environment', () => {
    expect(scalerEnvironment(valid).policy).toEqual({
      floor: 1,
      ceiling: 6,
      step: 2,
      cooldownMillis: 120_000,
    });
  });

  it('names every missing or malformed variable', () => {
    const attempt = () =>
      scalerEnvironment({ ...valid, SCALING_STEP: 'two', MAPPING_UUID: undefined, SCALING_CEILING: '0' });
    expect(attempt).toThrow(ScalerConfigError);
    expect(attempt).toThrow(/SCALING_STEP.*|MAPPING_UUID/);
    try {
      attempt();
    } catch (error: unknown) {
      expect(String(error)).toMatch(/MAPPING_UUID/);
      expect(String(error)).toMatch(/SCALING_STEP/);
      expect(String(error)).toMatch(/SCALING_CEILING/);
    }
  });
});
