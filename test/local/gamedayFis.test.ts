import {
  type Experiment,
  FisClient,
  GetExperimentCommand,
  type GetExperimentResponse,
  ListExperimentTemplatesCommand,
  type ListExperimentTemplatesResponse,
  StartExperimentCommand,
  type StartExperimentRequest,
  type StartExperimentResponse,
  StopExperimentCommand,
  type StopExperimentRequest,
  type StopExperimentResponse,
} from '@aws-sdk/client-fis';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { GAME_DAY_SCENARIOS } from '../../lib/gameDays.js';
import {
  ExperimentTemplateNotFoundError,
  FIS_SCENARIOS,
  runFisExperiment,
  UnknownScenarioError,
} from '../../local/gameday/fis.js';

// @aws-sdk/client-fis 3.523.0, the newest the registry serves, is built on older @smithy types than
// aws-sdk-client-mock expects: the stub works on it (it replaces `send`), only the declarations differ.
// The two helpers below are the only places that bridge the declarations.
const fis = mockClient(FisClient as unknown as Parameters<typeof mockClient>[0]);
type AnyCommand = Parameters<typeof fis.on>[0];
interface Stub<Output> {
  resolves(output: Output): Stub<Output>;
  resolvesOnce(output: Output): Stub<Output>;
  callsFakeOnce(fake: () => Output): Stub<Output>;
}
/** Answers `command` (only when sent with `input`, if given) with what the test says. */
const stub = <Output>(command: unknown, input?: object): Stub<Output> =>
  fis.on(command as AnyCommand, input as never) as unknown as Stub<Output>;
/** The inputs `command` was sent with, in order. */
const inputsOf = <Input>(command: unknown): Input[] =>
  fis.commandCalls(command as AnyCommand).map((call) => call.args[0].input as Input);
const client = new FisClient({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
});

const template = (id: string, environment: string, scenario: string) => ({
  id,
  tags: { 'cdp:environment': environment, 'cdp:scenario': scenario, Name: `cdp-${environment}-${scenario}` },
});

const experiment = (
  status: string,
  reason?: string,
  actions: Record<string, { status: string; reason?: string }> = {},
): Experiment => ({
  id: 'EXP123',
  experimentTemplateId: 'EXT-uat-failover',
  state: { status: status as never, ...(reason === undefined ? {} : { reason }) },
  actions: Object.fromEntries(
    Object.entries(actions).map(([name, state]) => [
      name,
      { state: { status: state.status as never, reason: state.reason } },
    ]),
  ),
});

/** Lists the templates of two environments over two pages, as FIS paginates them. */
const listTemplates = () => {
  stub<ListExperimentTemplatesResponse>(ListExperimentTemplatesCommand).resolves({
    experimentTemplates: [
      template('EXT-dev-failover', 'dev', 'shard-failover'),
      template('EXT-uat-query', 'uat', 'query-errors'),
    ],
    nextToken: 'page-2',
  });
  stub<ListExperimentTemplatesResponse>(ListExperimentTemplatesCommand, { nextToken: 'page-2' }).resolves({
    experimentTemplates: [template('EXT-uat-failover', 'uat', 'shard-failover'), { id: 'EXT-untagged' }],
  });
};

const run = (scenario = 'shard-failover', extra: Partial<Parameters<typeof runFisExperiment>[0]> = {}) => {
  const lines: string[] = [];
  const result = runFisExperiment({
    env: 'uat',
    scenario,
    client,
    pollMillis: 0,
    onProgress: (line) => lines.push(line),
    ...extra,
  });
  return { result, lines };
};

beforeEach(() => {
  fis.reset();
});

describe('runFisExperiment', () => {
  it('offers every scenario of the resilience stack', () => {
    expect(FIS_SCENARIOS.map((s) => s.id)).toEqual(GAME_DAY_SCENARIOS.map((s) => s.id));
    expect(FIS_SCENARIOS.every((s) => s.description.length > 0)).toBe(true);
  });

  it('starts the template tagged for the environment and scenario and follows it to completion', async () => {
    // Prepare
    listTemplates();
    stub<StartExperimentResponse>(StartExperimentCommand).resolves({ experiment: experiment('initiating') });
    stub<GetExperimentResponse>(GetExperimentCommand, { id: 'EXP123' })
      .resolvesOnce({
        experiment: experiment('running', undefined, { 'shard-failover': { status: 'running' } }),
      })
      .resolvesOnce({
        experiment: experiment('running', undefined, { 'shard-failover': { status: 'running' } }),
      })
      .resolvesOnce({
        experiment: {
          ...experiment('completed', 'Experiment completed.', { 'shard-failover': { status: 'completed' } }),
          startTime: new Date('2026-12-03T08:00:00Z'),
          endTime: new Date('2026-12-03T08:03:00Z'),
        },
      });

    // Act
    const { result, lines } = run();

    // Assess
    await expect(result).resolves.toEqual({
      experimentId: 'EXP123',
      templateId: 'EXT-uat-failover',
      state: 'completed',
      reason: 'Experiment completed.',
      succeeded: true,
      startedAt: new Date('2026-12-03T08:00:00Z'),
      endedAt: new Date('2026-12-03T08:03:00Z'),
    });
    const [start] = inputsOf<StartExperimentRequest>(StartExperimentCommand);
    expect(start?.experimentTemplateId).toBe('EXT-uat-failover');
    expect(start?.tags).toEqual({ 'cdp:environment': 'uat', 'cdp:scenario': 'shard-failover' });
    expect(start?.clientToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(inputsOf(ListExperimentTemplatesCommand)).toHaveLength(2);
    expect(inputsOf(GetExperimentCommand)).toHaveLength(3);
    // One line per change: the second identical "running" look prints nothing.
    expect(lines).toEqual([
      'shard-failover (uat): starting experiment template EXT-uat-failover',
      'EXP123: started; abort with StopExperiment (aws fis stop-experiment --id EXP123)',
      'EXP123 experiment initiating',
      'EXP123 experiment running',
      'EXP123 action shard-failover running',
      'EXP123 experiment completed: Experiment completed.',
      'EXP123 action shard-failover completed',
    ]);
  });

  it('reports an experiment stopped by a stop condition as a failure, with the reason', async () => {
    // Prepare
    listTemplates();
    stub<StartExperimentResponse>(StartExperimentCommand).resolves({ experiment: experiment('initiating') });
    stub<GetExperimentResponse>(GetExperimentCommand)
      .resolvesOnce({ experiment: experiment('stopping', 'Experiment stopped by stop condition.') })
      .resolvesOnce({ experiment: experiment('stopped', 'Experiment stopped by stop condition.') });

    // Act
    const { result, lines } = run();

    // Assess
    await expect(result).resolves.toMatchObject({
      state: 'stopped',
      reason: 'Experiment stopped by stop condition.',
      succeeded: false,
    });
    expect(lines.at(-1)).toBe('EXP123 experiment stopped: Experiment stopped by stop condition.');
  });

  it('reports a failed experiment and its failed action', async () => {
    // Prepare
    listTemplates();
    stub<StartExperimentResponse>(StartExperimentCommand).resolves({ experiment: experiment('initiating') });
    stub<GetExperimentResponse>(GetExperimentCommand).resolves({
      experiment: experiment('failed', 'Action shard-failover failed.', {
        'shard-failover': { status: 'failed', reason: 'AccessDenied: rds:FailoverDBCluster' },
      }),
    });

    // Act
    const { result, lines } = run();

    // Assess
    await expect(result).resolves.toMatchObject({ state: 'failed', succeeded: false });
    expect(lines).toContain('EXP123 action shard-failover failed: AccessDenied: rds:FailoverDBCluster');
  });

  it('says which tags it looked for when no template matches, and starts nothing', async () => {
    // Prepare: uat has no template of this scenario (dev has)
    stub<ListExperimentTemplatesResponse>(ListExperimentTemplatesCommand).resolves({
      experimentTemplates: [template('EXT-dev-reboot', 'dev', 'kafka-broker-reboot')],
    });

    // Act
    const { result } = run('kafka-broker-reboot');

    // Assess
    await expect(result).rejects.toBeInstanceOf(ExperimentTemplateNotFoundError);
    await expect(result).rejects.toThrow(
      /No FIS experiment template tagged cdp:environment=uat and cdp:scenario=kafka-broker-reboot .*cdp-uat-resilience/,
    );
    expect(inputsOf(StartExperimentCommand)).toHaveLength(0);
  });

  it('refuses to choose between two templates with the same tags', async () => {
    stub<ListExperimentTemplatesResponse>(ListExperimentTemplatesCommand).resolves({
      experimentTemplates: [
        template('EXT-a', 'uat', 'query-errors'),
        template('EXT-b', 'uat', 'query-errors'),
      ],
    });

    const { result } = run('query-errors');

    await expect(result).rejects.toThrow(
      '2 FIS experiment templates are tagged cdp:environment=uat and cdp:scenario=query-errors (EXT-a, EXT-b)',
    );
    expect(inputsOf(StartExperimentCommand)).toHaveLength(0);
  });

  it('refuses an unknown scenario before calling FIS', async () => {
    const { result } = run('delete-everything');

    await expect(result).rejects.toBeInstanceOf(UnknownScenarioError);
    expect(fis.calls()).toHaveLength(0);
  });

  it('stops the experiment once when aborted and follows it until FIS has stopped it', async () => {
    // Prepare
    listTemplates();
    const abort = new AbortController();
    stub<StartExperimentResponse>(StartExperimentCommand).resolves({ experiment: experiment('initiating') });
    stub<StopExperimentResponse>(StopExperimentCommand).resolves({ experiment: experiment('stopping') });
    stub<GetExperimentResponse>(GetExperimentCommand)
      .callsFakeOnce(() => {
        abort.abort();
        return { experiment: experiment('running') };
      })
      .resolvesOnce({ experiment: experiment('stopping', 'Experiment stopped by user.') })
      .resolvesOnce({ experiment: experiment('stopped', 'Experiment stopped by user.') });

    // Act
    const { result, lines } = run('shard-failover', { signal: abort.signal });

    // Assess
    await expect(result).resolves.toMatchObject({ state: 'stopped', succeeded: false });
    expect(inputsOf<StopExperimentRequest>(StopExperimentCommand)).toEqual([{ id: 'EXP123' }]);
    expect(lines).toContain('EXP123: stopping on request');
  });
});
