import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  GetEventSourceMappingCommand,
  type LambdaClient,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { PlatformError } from '../errors.js';
import type { CancellablePolicy } from '../resilience/builders.js';
import { scalerCallPolicy } from '../resilience/named.js';
import { decideScaling, type LagSignal, type ScalingDecision, type ScalingPolicy } from './decideScaling.js';

/** The consumer mapping is mid-update or disabled: the scaler leaves it alone this time. */
export class MappingNotReadyError extends PlatformError {
  public override readonly name = 'MappingNotReadyError';

  public constructor(
    public readonly uuid: string,
    public readonly state: string,
  ) {
    super(`event source mapping ${uuid} is ${state}`);
  }
}

export interface PollerScalerDependencies {
  readonly lambda: Pick<LambdaClient, 'send'>;
  readonly cloudwatch: Pick<CloudWatchClient, 'send'>;
  /** The consumer's mapping on the events topic. */
  readonly mappingUuid: string;
  /** Each in ALARM while the lag is high by one measure (scale out when any is). */
  readonly highLagAlarms: readonly string[];
  /** In ALARM while the lag has stayed low (scale in). */
  readonly lowLagAlarm: string;
  readonly policy: ScalingPolicy;
  readonly callPolicy?: CancellablePolicy;
  readonly now?: () => number;
}

export interface ScalingReport {
  readonly signal: LagSignal;
  readonly current: number;
  readonly decision: ScalingDecision;
  /** True when the mapping was updated. */
  readonly applied: boolean;
}

/**
 * One turn of the lag scaler: reads the lag alarms and the mapping, decides with
 * {@link decideScaling} (the mapping's last modification is the cooldown's reference, so the scaler keeps
 * no state of its own), and sets the mapping's minimum pollers when the decision says so. Safe to run
 * concurrently and repeatedly: every run decides from the mapping as it is.
 * @throws {MappingNotReadyError} when the mapping is not Enabled (an update in flight, or disabled).
 * @throws the SDK's error when a call still fails after its retries.
 */
export async function scalePollers(deps: PollerScalerDependencies): Promise<ScalingReport> {
  const call = deps.callPolicy ?? scalerCallPolicy();
  const alarms = await call.execute(({ signal }) =>
    deps.cloudwatch.send(
      new DescribeAlarmsCommand({ AlarmNames: [...deps.highLagAlarms, deps.lowLagAlarm] }),
      { abortSignal: signal },
    ),
  );
  const stateOf = (name: string) => alarms.MetricAlarms?.find((a) => a.AlarmName === name)?.StateValue;
  const high = deps.highLagAlarms.some((name) => stateOf(name) === 'ALARM');
  const lagSignal: LagSignal = high ? 'high' : stateOf(deps.lowLagAlarm) === 'ALARM' ? 'low' : 'normal';
  const mapping = await call.execute(({ signal }) =>
    deps.lambda.send(new GetEventSourceMappingCommand({ UUID: deps.mappingUuid }), { abortSignal: signal }),
  );
  if (mapping.State !== 'Enabled')
    throw new MappingNotReadyError(deps.mappingUuid, mapping.State ?? 'unknown');
  const pollers = mapping.ProvisionedPollerConfig;
  const current = pollers?.MinimumPollers ?? deps.policy.floor;
  const decision = decideScaling(
    deps.policy,
    { current, lastChangedAt: mapping.LastModified?.getTime() },
    lagSignal,
    (deps.now ?? Date.now)(),
  );
  if (decision.action === 'hold') return { signal: lagSignal, current, decision, applied: false };
  await call.execute(({ signal }) =>
    deps.lambda.send(
      new UpdateEventSourceMappingCommand({
        UUID: deps.mappingUuid,
        ProvisionedPollerConfig: {
          MinimumPollers: decision.target,
          MaximumPollers: Math.max(pollers?.MaximumPollers ?? decision.target, decision.target),
        },
      }),
      { abortSignal: signal },
    ),
  );
  return { signal: lagSignal, current, decision, applied: true };
}
