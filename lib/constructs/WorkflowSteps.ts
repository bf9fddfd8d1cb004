import type { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PlatformFunction, type PlatformFunctionProps } from './PlatformFunction.js';

/** How one step's function is sized. */
export interface WorkflowStepSettings {
  /** @default 256 */
  readonly memorySize?: number;
  readonly timeout: Duration;
}

export interface WorkflowStepsProps<S extends string>
  extends Omit<PlatformFunctionProps, 'exportName' | 'memorySize' | 'timeout' | 'description'> {
  /** Each export of `lambdas/<name>/handler.ts` that is a step, with its sizing, in definition order. */
  readonly steps: Readonly<Record<S, WorkflowStepSettings>>;
  /** Shown on every function, after the step's name. */
  readonly description: string;
}

const pascal = (name: string): string => `${name.charAt(0).toUpperCase()}${name.slice(1)}`;

/**
 * The Lambda functions of one workflow's step module: one {@link PlatformFunction} per export of
 * `lambdas/<name>/handler.ts`, built from the same bundle with the same environment (the module's
 * contract), each with its own role so a step is granted only what its own work needs.
 */
export class WorkflowSteps<S extends string> extends Construct {
  /** The function of each step export. */
  public readonly functions: Readonly<Record<S, PlatformFunction>>;

  public constructor(scope: Construct, id: string, props: WorkflowStepsProps<S>) {
    super(scope, id);
    const { steps, description, ...common } = props;
    this.functions = Object.fromEntries(
      (Object.entries(steps) as [S, WorkflowStepSettings][]).map(([step, settings]) => [
        step,
        new PlatformFunction(this, pascal(step), {
          ...common,
          exportName: step,
          description: `${step}: ${description}`,
          timeout: settings.timeout,
          ...(settings.memorySize === undefined ? {} : { memorySize: settings.memorySize }),
        }),
      ]),
    ) as Record<S, PlatformFunction>;
  }

  /** Every step function, in definition order. */
  public get all(): PlatformFunction[] {
    return Object.values<PlatformFunction>(this.functions);
  }

  /** `${Name}` → function ARN, for the definition substitutions of the steps named in `names`. */
  public substitutions(names: Readonly<Record<S, string>>): Record<string, string> {
    return Object.fromEntries(
      (Object.entries(names) as [S, string][]).map(([step, name]) => [
        name,
        this.functions[step].function.functionArn,
      ]),
    );
  }
}
