import { z } from 'zod';
import { ENV } from '../contracts/index.js';
import { PlatformError } from '../errors.js';
import type { ScalingPolicy } from './decideScaling.js';

const whole = (min: number) => z.coerce.number().int().min(min);

/** The lag scaler's environment, checked once at cold start. */
const schema = z
  .object({
    MAPPING_UUID: z.string().min(1),
    /** Comma-separated: the scaler scales out while any of them is in ALARM. */
    HIGH_LAG_ALARMS: z.string().min(1),
    LOW_LAG_ALARM: z.string().min(1),
    SCALING_FLOOR: whole(1),
    SCALING_CEILING: whole(1),
    SCALING_STEP: whole(1),
    SCALING_COOLDOWN_SECONDS: whole(0),
  })
  .refine((env) => env.SCALING_CEILING >= env.SCALING_FLOOR, {
    message: 'must be at least SCALING_FLOOR',
    path: [ENV.scalingCeiling],
  });

export interface ScalerEnvironment {
  readonly mappingUuid: string;
  readonly highLagAlarms: readonly string[];
  readonly lowLagAlarm: string;
  readonly policy: ScalingPolicy;
}

/** An environment variable of the scaler is missing or malformed. */
export class ScalerConfigError extends PlatformError {
  public override readonly name = 'ScalerConfigError';
}

/**
 * Reads and validates the scaler's environment.
 * @throws {ScalerConfigError} naming every missing or malformed variable.
 */
export function scalerEnvironment(env: NodeJS.ProcessEnv): ScalerEnvironment {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ScalerConfigError(`invalid lag scaler environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    mappingUuid: e.MAPPING_UUID,
    highLagAlarms: e.HIGH_LAG_ALARMS.split(',').filter((name) => name !== ''),
    lowLagAlarm: e.LOW_LAG_ALARM,
    policy: {
      floor: e.SCALING_FLOOR,
      ceiling: e.SCALING_CEILING,
      step: e.SCALING_STEP,
      cooldownMillis: e.SCALING_COOLDOWN_SECONDS * 1_000,
    },
  };
}
