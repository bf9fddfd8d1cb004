import { environments } from './environments.js';
import { ConfigError } from './errors.js';
import {
  ENVIRONMENT_NAMES,
  type EnvironmentConfig,
  type EnvironmentName,
  environmentConfigSchema,
} from './schema.js';

/** Values a deployer may override per invocation (`-c account=... -c region=...`). */
export interface ConfigOverrides {
  readonly account?: string;
  readonly region?: string;
}

const isEnvironmentName = (value: string): value is EnvironmentName =>
  (ENVIRONMENT_NAMES as readonly string[]).includes(value);

/**
 * Selects and validates the configuration of one environment.
 *
 * @param name - `dev`, `uat` or `prod`.
 * @param overrides - account/region from CDK context; anything else is fixed in code review.
 * @param base - the table of environments; tests pass broken ones to prove validation.
 * @throws {ConfigError} when the name is unknown or any field is invalid; the message names each field.
 */
export function loadEnvironmentConfig(
  name: string | undefined,
  overrides: ConfigOverrides = {},
  base: Readonly<Record<string, unknown>> = environments,
): EnvironmentConfig {
  if (name === undefined || name === '') {
    throw new ConfigError(`No environment selected: pass -c env=<${ENVIRONMENT_NAMES.join('|')}>`);
  }
  if (!isEnvironmentName(name)) {
    throw new ConfigError(`Unknown environment "${name}": expected one of ${ENVIRONMENT_NAMES.join(', ')}`);
  }
  const raw = base[name];
  const candidate =
    raw !== null && typeof raw === 'object'
      ? {
          ...raw,
          ...(overrides.account === undefined ? {} : { account: overrides.account }),
          ...(overrides.region === undefined ? {} : { region: overrides.region }),
        }
      : raw;
  const parsed = environmentConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${[name, ...issue.path].join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration for environment "${name}"`, issues);
  }
  return Object.freeze(parsed.data);
}

/** The availability zones of an environment, named explicitly so synth never looks them up. */
export const availabilityZonesOf = (config: EnvironmentConfig): string[] =>
  Array.from(
    { length: config.availabilityZoneCount },
    (_, i) => `${config.region}${String.fromCharCode(97 + i)}`,
  );
