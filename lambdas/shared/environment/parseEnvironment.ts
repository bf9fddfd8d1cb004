import { z } from 'zod';
import { isArnOf } from '../aws/arn.js';

/**
 * A function's environment is missing a variable or holds a malformed one: a deployment fault, never
 * retried. A `RangeError`, so the handlers treat it as they treat other faults of their own configuration.
 */
export class EnvironmentError extends RangeError {
  public override readonly name = 'EnvironmentError';

  public constructor(
    message: string,
    /** The variables at fault. */
    public readonly variables: readonly string[],
  ) {
    super(message);
  }
}

/** A variable that must be set and not empty. */
export const requiredString = z.string({ error: 'is required' }).min(1, { error: 'is required' });

/** A whole number of at least `min`, written in decimal (`Number('')` is 0 and `Number('1e3')` 1000: refused). */
export const wholeNumber = (min: number) =>
  z
    .string({ error: 'is required' })
    .regex(/^\d+$/, { error: `must be a whole number of at least ${min}` })
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n) && n >= min, {
      error: `must be a whole number of at least ${min}`,
    });

/** A TCP port. */
export const port = wholeNumber(1).refine((n) => n <= 65_535, { error: 'must be a port (1-65535)' });

/** An `https://` URL (an SQS queue URL). */
export const httpsUrl = requiredString.refine((value) => value.startsWith('https://'), {
  error: 'must be an https:// URL',
});

/** An ARN of `service`. */
export const arnOf = (service: string) =>
  requiredString.refine((value) => isArnOf(value, service), {
    error: `must be an ARN of ${service}`,
  });

/** JSON text (parsed; its shape is the reader's to check). */
export const jsonText = requiredString.transform((value, context) => {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    context.addIssue({ code: 'custom', message: 'must be JSON' });
    return z.NEVER;
  }
});

/**
 * Validates `env` against a function's schema, once, at its cold start.
 * @throws {EnvironmentError} naming every missing or malformed variable and what is wrong with it.
 */
export function parseEnvironment<Schema extends z.ZodType>(
  schema: Schema,
  env: Readonly<Record<string, string | undefined>> = process.env,
): z.output<Schema> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    variable: String(issue.path[0] ?? '(environment)'),
    message: issue.message,
  }));
  throw new EnvironmentError(
    `invalid function environment: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`,
    [...new Set(problems.map((p) => p.variable))],
  );
}
