/**
 * Game days in AWS: starts the FIS experiment of a scenario in an environment and follows it to the end.
 * The experiment templates live in the `cdp-<env>-resilience` stack; this finds one by its tags.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Experiment,
  FisClient,
  GetExperimentCommand,
  ListExperimentTemplatesCommand,
  StartExperimentCommand,
  StopExperimentCommand,
} from '@aws-sdk/client-fis';
import { EXPERIMENT_TAGS, GAME_DAY_SCENARIOS } from '../../lib/gameDays.js';
import { ExperimentTemplateNotFoundError, GameDayError, UnknownScenarioError } from './errors.js';

export { ExperimentTemplateNotFoundError, GameDayError, UnknownScenarioError } from './errors.js';
/** The SDK's FIS client (`FisClient`), under the name the AWS documentation uses. */
export type FISClient = FisClient;

/** The scenarios an AWS game day can run, with what each injects. */
export const FIS_SCENARIOS: ReadonlyArray<{ readonly id: string; readonly description: string }> =
  GAME_DAY_SCENARIOS.map(({ id, description }) => ({ id, description }));

/** Seconds between two looks at a running experiment. */
export const DEFAULT_POLL_MILLIS = 5_000;

/** States after which FIS changes nothing more (`cancelled` is newer than some SDK versions' enum). */
const FINAL_STATES: ReadonlySet<string> = new Set(['completed', 'stopped', 'failed', 'cancelled']);

export interface RunFisExperimentOptions {
  readonly env: 'dev' | 'uat' | 'prod';
  readonly scenario: string;
  /** @default a client for the default credentials and region */
  readonly client?: FisClient;
  /** Receives one line per change of the experiment's or an action's state. @default nothing */
  readonly onProgress?: (line: string) => void;
  /** @default {@link DEFAULT_POLL_MILLIS} */
  readonly pollMillis?: number;
  /** Aborting stops the experiment (StopExperiment) and keeps following it until FIS has stopped it. */
  readonly signal?: AbortSignal;
}

export interface FisExperimentResult {
  readonly experimentId: string;
  readonly templateId: string;
  /** The final state: `completed` is the only success. */
  readonly state: string;
  readonly reason: string | undefined;
  readonly succeeded: boolean;
  readonly startedAt: Date | undefined;
  readonly endedAt: Date | undefined;
}

/**
 * Starts the experiment of `scenario` in `env` and follows it until it ends.
 * @returns the final state; anything but `completed` (stopped by an alarm or by hand, failed) is a failure
 * @throws {UnknownScenarioError} when the scenario is not one of {@link FIS_SCENARIOS}
 * @throws {ExperimentTemplateNotFoundError} when no template, or more than one, carries the tags
 * @throws {GameDayError} when FIS answers without an experiment
 */
export async function runFisExperiment(options: RunFisExperimentOptions): Promise<FisExperimentResult> {
  const { env, scenario, signal } = options;
  const known = FIS_SCENARIOS.map((s) => s.id);
  if (!known.includes(scenario)) throw new UnknownScenarioError(scenario, known);
  const client = options.client ?? new FisClient({});
  const report = options.onProgress ?? (() => undefined);
  const pollMillis = options.pollMillis ?? DEFAULT_POLL_MILLIS;

  const templateId = await findTemplate(client, env, scenario);
  report(`${scenario} (${env}): starting experiment template ${templateId}`);
  const started = await client.send(
    new StartExperimentCommand({
      experimentTemplateId: templateId,
      clientToken: randomUUID(),
      tags: { [EXPERIMENT_TAGS.environment]: env, [EXPERIMENT_TAGS.scenario]: scenario },
    }),
  );
  const experimentId = started.experiment?.id;
  if (experimentId === undefined) {
    throw new GameDayError(`FIS started no experiment from template ${templateId}`, {
      context: { templateId },
    });
  }
  report(
    `${experimentId}: started; abort with StopExperiment (aws fis stop-experiment --id ${experimentId})`,
  );

  let stopRequested = false;
  const seen = new Map<string, string>();
  let experiment: Experiment | undefined = started.experiment;
  for (;;) {
    if (experiment !== undefined) describeChanges(experiment, seen, report);
    const status = experiment?.state?.status;
    if (status !== undefined && FINAL_STATES.has(status)) break;
    if (signal?.aborted === true && !stopRequested) {
      stopRequested = true;
      report(`${experimentId}: stopping on request`);
      await client.send(new StopExperimentCommand({ id: experimentId }));
    }
    await sleep(pollMillis);
    experiment = (await client.send(new GetExperimentCommand({ id: experimentId }))).experiment;
  }

  const state = experiment?.state?.status ?? 'unknown';
  return {
    experimentId,
    templateId,
    state,
    reason: experiment?.state?.reason,
    succeeded: state === 'completed',
    startedAt: experiment?.startTime,
    endedAt: experiment?.endTime,
  };
}

/** The one template tagged with the environment and the scenario, across every page of the listing. */
async function findTemplate(client: FisClient, env: string, scenario: string): Promise<string> {
  const matches: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListExperimentTemplatesCommand({ ...(nextToken ? { nextToken } : {}) }),
    );
    for (const template of page.experimentTemplates ?? []) {
      const tags = template.tags ?? {};
      if (
        template.id !== undefined &&
        tags[EXPERIMENT_TAGS.environment] === env &&
        tags[EXPERIMENT_TAGS.scenario] === scenario
      ) {
        matches.push(template.id);
      }
    }
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  const [only] = matches;
  if (only === undefined || matches.length > 1)
    throw new ExperimentTemplateNotFoundError(env, scenario, matches);
  return only;
}

/** One line for the experiment's state and for each action whose state changed since the last look. */
function describeChanges(
  experiment: Experiment,
  seen: Map<string, string>,
  report: (line: string) => void,
): void {
  const line = (key: string, label: string, status: string | undefined, reason: string | undefined) => {
    if (status === undefined) return;
    const text = reason === undefined || reason === '' ? status : `${status}: ${reason}`;
    if (seen.get(key) === text) return;
    seen.set(key, text);
    report(`${experiment.id ?? '?'} ${label} ${text}`);
  };
  line('', 'experiment', experiment.state?.status, experiment.state?.reason);
  for (const [name, action] of Object.entries(experiment.actions ?? {}).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    line(`action:${name}`, `action ${name}`, action.state?.status, action.state?.reason);
  }
}
