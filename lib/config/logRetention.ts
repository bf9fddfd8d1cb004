import { z } from 'zod';

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** A log retention in days, one CloudWatch Logs accepts. */
export const logRetentionDays = z
  .number()
  .int()
  .refine((days) => LOG_RETENTION_DAYS.includes(days), {
    message: `must be a CloudWatch Logs retention (${LOG_RETENTION_DAYS.join(', ')})`,
  });
