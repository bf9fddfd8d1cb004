/**
 * Reads a required environment variable of a function.
 * @throws {RangeError} naming the variable when it is missing or empty.
 */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new RangeError(`environment variable ${name} is required`);
  return value;
}
