import { z } from 'zod';
import type { KafkaPublisherSettings } from './KafkaPublisher.js';

/** The environment variables that carry an environment's producer configuration to its functions. */
export const PRODUCER_ENVIRONMENT = {
  compression: 'PRODUCER_COMPRESSION',
  maxRecordsPerRequest: 'PRODUCER_MAX_RECORDS_PER_REQUEST',
} as const;

const producerEnvironment = z.object({
  [PRODUCER_ENVIRONMENT.compression]: z.enum(['gzip', 'none']).optional(),
  [PRODUCER_ENVIRONMENT.maxRecordsPerRequest]: z
    .string()
    .regex(/^[1-9]\d{0,4}$/, 'must be an integer from 1 to 99999')
    .transform(Number)
    .optional(),
});

/**
 * The producer settings of a function, from PRODUCER_COMPRESSION and PRODUCER_MAX_RECORDS_PER_REQUEST
 * (each optional: the publisher's defaults apply where unset).
 * @throws {RangeError} naming the variable when a value is malformed.
 */
export function producerSettingsFromEnvironment(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Partial<KafkaPublisherSettings> {
  const parsed = producerEnvironment.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RangeError(
      `environment variable ${String(issue?.path[0])} ${issue?.message ?? 'is malformed'}`,
    );
  }
  const compression = parsed.data[PRODUCER_ENVIRONMENT.compression];
  const maxRecordsPerRequest = parsed.data[PRODUCER_ENVIRONMENT.maxRecordsPerRequest];
  return {
    ...(compression === undefined ? {} : { compression }),
    ...(maxRecordsPerRequest === undefined ? {} : { maxRecordsPerRequest }),
  };
}
