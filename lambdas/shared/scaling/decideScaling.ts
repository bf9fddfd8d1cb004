/** Bounds and pace of the consumer's poller scaling, from the environment's configuration. */
export interface ScalingPolicy {
  /** Fewest minimum pollers: never scaled below (the configured steady-state floor). */
  readonly floor: number;
  /** Most minimum pollers: never scaled above (at most the mapping's maximum and the partition count). */
  readonly ceiling: number;
  /** Pollers added or removed per decision. */
  readonly step: number;
  /** Least time between two changes, so a change can take effect before the next is decided. */
  readonly cooldownMillis: number;
}

/**
 * What the lag says, with hysteresis: `high` at or above the scale-out threshold, `low` at or below the
 * (lower) scale-in threshold, `normal` in between, where nothing changes.
 */
export type LagSignal = 'high' | 'low' | 'normal';

/** The scaled quantity now, and when it last changed. */
export interface ScalingState {
  readonly current: number;
  /** Milliseconds since the epoch of the last change; undefined when unknown (no cooldown applies). */
  readonly lastChangedAt: number | undefined;
}

export type ScalingAction = 'scale-out' | 'scale-in' | 'hold';

export interface ScalingDecision {
  readonly action: ScalingAction;
  /** The value to set (equals `current` on hold). */
  readonly target: number;
  readonly reason: string;
}

/** Lag thresholds of the two signals; `low` must be below `high` so the signals cannot flap. */
export interface LagThresholds {
  readonly high: number;
  readonly low: number;
}

/**
 * Classifies a lag reading.
 * @throws {RangeError} when the thresholds leave no band between them.
 */
export function classifyLag(lag: number, thresholds: LagThresholds): LagSignal {
  if (!(thresholds.low < thresholds.high)) {
    throw new RangeError(
      `the low lag threshold (${thresholds.low}) must be below the high one (${thresholds.high})`,
    );
  }
  if (lag >= thresholds.high) return 'high';
  if (lag <= thresholds.low) return 'low';
  return 'normal';
}

/**
 * The next step of the scaler: out by `step` on high lag, in by `step` on low lag, within
 * [floor, ceiling], never twice within the cooldown. A value already outside the bounds (changed by hand)
 * is brought back inside first. Pure: the same inputs give the same decision, so repeated alarms change
 * nothing more than one.
 * @throws {RangeError} for a policy whose bounds, step or cooldown make no sense.
 */
export function decideScaling(
  policy: ScalingPolicy,
  state: ScalingState,
  signal: LagSignal,
  now: number,
): ScalingDecision {
  validatePolicy(policy);
  const hold = (reason: string): ScalingDecision => ({ action: 'hold', target: state.current, reason });
  if (state.current > policy.ceiling) {
    return { action: 'scale-in', target: policy.ceiling, reason: `above the ceiling of ${policy.ceiling}` };
  }
  if (state.current < policy.floor) {
    return { action: 'scale-out', target: policy.floor, reason: `below the floor of ${policy.floor}` };
  }
  if (signal === 'normal') return hold('lag between the thresholds');
  const sinceChange =
    state.lastChangedAt === undefined ? Number.POSITIVE_INFINITY : now - state.lastChangedAt;
  if (sinceChange < policy.cooldownMillis) {
    return hold(`cooling down (${Math.round(sinceChange / 1000)} s of ${policy.cooldownMillis / 1000} s)`);
  }
  if (signal === 'high') {
    const target = Math.min(policy.ceiling, state.current + policy.step);
    return target === state.current
      ? hold(`high lag, already at the ceiling of ${policy.ceiling}`)
      : { action: 'scale-out', target, reason: 'high lag' };
  }
  const target = Math.max(policy.floor, state.current - policy.step);
  return target === state.current
    ? hold(`low lag, already at the floor of ${policy.floor}`)
    : { action: 'scale-in', target, reason: 'low lag' };
}

function validatePolicy(policy: ScalingPolicy): void {
  const whole = (value: number) => Number.isSafeInteger(value);
  if (!whole(policy.floor) || policy.floor < 1) throw new RangeError(`floor must be a whole number >= 1`);
  if (!whole(policy.ceiling) || policy.ceiling < policy.floor) {
    throw new RangeError(`ceiling must be a whole number >= the floor (${policy.floor})`);
  }
  if (!whole(policy.step) || policy.step < 1) throw new RangeError('step must be a whole number >= 1');
  if (!(policy.cooldownMillis >= 0)) throw new RangeError('cooldown must be zero or more');
}
