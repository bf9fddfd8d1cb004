/**
 * Runs a state machine of `step-functions/` on this machine with `aws-local-stepfunctions`: the same
 * Amazon States Language file CDK deploys, its `${Name}` substitutions filled with placeholder ARNs, and
 * every Task state bound to a local function (the real step code) by state name.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { STEP_FUNCTIONS_DIR, SUBSTITUTION } from '../../step-functions/definitions.js';
import './promiseWithResolvers.js';

/** A JSON document: what states pass between them. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** A local stand-in for a Task state's resource: receives the state's effective input. */
export type LocalTask = (input: JSONValue) => Promise<JSONValue> | JSONValue;

export interface LocalWorkflowOptions {
  /** The definition's file name under `step-functions/` (e.g. `etl.asl.json`). */
  readonly definition: string;
  /** Task state name → local function. Every Task state of the definition must be bound. */
  readonly tasks: Readonly<Record<string, LocalTask>>;
  /** Retry waits in milliseconds by state name (the definition's backoff is kept when absent). */
  readonly retryIntervals?: Readonly<Record<string, number | number[]>>;
  /** Values for `${Name}` substitutions; any left out become a placeholder ARN. */
  readonly substitutions?: Readonly<Record<string, string>>;
}

const PLACEHOLDER_ACCOUNT = '000000000000';

/** Fills `${Name}` placeholders the way CloudFormation's `DefinitionSubstitutions` does. */
export function substitute(definition: string, values: Readonly<Record<string, string>>): string {
  return definition.replace(SUBSTITUTION, (_match, name: string) => {
    const value = values[name];
    if (value !== undefined) return value;
    // Names end in the kind of resource they stand for; a placeholder keeps the ARN's shape valid.
    if (name.endsWith('TopicArn')) return `arn:aws:sns:eu-west-1:${PLACEHOLDER_ACCOUNT}:local-${name}`;
    return `arn:aws:lambda:eu-west-1:${PLACEHOLDER_ACCOUNT}:function:local-${name}`;
  });
}

/** Reads a definition and lists the Task states it has, at any depth (Map and Parallel included). */
export async function loadDefinition(
  file: string,
  substitutions: Readonly<Record<string, string>> = {},
): Promise<{ readonly definition: Record<string, unknown>; readonly taskStates: readonly string[] }> {
  const text = await readFile(join(STEP_FUNCTIONS_DIR, file), 'utf8');
  const definition = JSON.parse(substitute(text, substitutions)) as Record<string, unknown>;
  const taskStates: string[] = [];
  const visit = (states: unknown) => {
    if (typeof states !== 'object' || states === null) return;
    for (const [name, state] of Object.entries(states)) {
      if (typeof state !== 'object' || state === null) continue;
      if ('Type' in state && state.Type === 'Task') taskStates.push(name);
      if ('ItemProcessor' in state) visit((state.ItemProcessor as { States?: unknown }).States);
      if ('Iterator' in state) visit((state.Iterator as { States?: unknown }).States);
      if ('Branches' in state && Array.isArray(state.Branches)) {
        for (const branch of state.Branches) visit((branch as { States?: unknown }).States);
      }
    }
  };
  visit(definition.States);
  return { definition, taskStates };
}

/** One execution's outcome: its output, or the error and cause it failed with. */
export type WorkflowResult =
  | { readonly status: 'SUCCEEDED'; readonly output: JSONValue }
  | { readonly status: 'FAILED'; readonly error: string; readonly cause: string };

/**
 * Runs one execution of a definition with its Task states bound to local functions.
 * @throws {RangeError} when a Task state of the definition has no local function.
 */
export async function runWorkflow(options: LocalWorkflowOptions, input: JSONValue): Promise<WorkflowResult> {
  const { definition, taskStates } = await loadDefinition(options.definition, options.substitutions);
  const unbound = taskStates.filter((name) => !(name in options.tasks));
  if (unbound.length > 0) {
    throw new RangeError(
      `${options.definition}: Task states without a local function: ${unbound.join(', ')}`,
    );
  }
  // biome-ignore lint/suspicious/noExplicitAny: the interpreter types the definition loosely.
  const machine = new StateMachine(definition as any, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: { ...options.tasks } as never,
      ...(options.retryIntervals ? { retryIntervalOverrides: { ...options.retryIntervals } } : {}),
    },
  });
  try {
    return { status: 'SUCCEEDED', output: (await execution.result) as JSONValue };
  } catch (error: unknown) {
    // The definition's TimeoutSeconds passed: Step Functions reports such an execution as timed out.
    if (error instanceof ExecutionTimeoutError) {
      return {
        status: 'FAILED',
        error: 'States.Timeout',
        cause: 'the execution exceeded its TimeoutSeconds',
      };
    }
    // The interpreter wraps the state's error (its name is the ASL error name) in an ExecutionError.
    if (!(error instanceof ExecutionError)) throw error;
    const failure = error.cause instanceof Error ? error.cause : error;
    return { status: 'FAILED', error: failure.name, cause: failure.message };
  }
}
