import { HealthCheckConfigError } from './errors.js';

export type Environment = Readonly<Record<string, string | undefined>>;

/** @throws {HealthCheckConfigError} naming the variable when it is missing or empty. */
export function requiredVariable(env: Environment, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') {
    throw new HealthCheckConfigError(`environment variable ${name} is required`, {
      context: { variable: name },
    });
  }
  return value;
}

/**
 * A whole number of at least 1; `fallback` when the variable is unset or empty.
 *
 * @throws {HealthCheckConfigError} when the value is not a positive integer, or missing without fallback.
 */
export function positiveIntegerVariable(env: Environment, name: string, fallback?: number): number {
  const raw = env[name]?.trim();
  if ((raw === undefined || raw === '') && fallback !== undefined) return fallback;
  const text = requiredVariable(env, name);
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new HealthCheckConfigError(
      `environment variable ${name} must be a positive integer, got "${text}"`,
      {
        context: { variable: name, value: text },
      },
    );
  }
  return value;
}
