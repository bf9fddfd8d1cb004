/**
 * Raised when an environment configuration is unknown or invalid. `issues` names every offending
 * field by its dotted path so that `cdk synth` fails with a message an operator can act on.
 */
export class ConfigError extends Error {
  public override readonly name = 'ConfigError';
  public readonly retriable = false;

  public constructor(
    message: string,
    public readonly issues: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(issues.length > 0 ? `${message}\n  - ${issues.join('\n  - ')}` : message, options);
  }
}
