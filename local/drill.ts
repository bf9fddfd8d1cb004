/**
 * `npm run drill -- list | <scenario…> | all [--events N] [--seconds N] [--report DIR] [--json]`
 *
 * Runs failure-scenario drills against the local platform (real PostgreSQL, Redis and Kafka; the local
 * log where Kafka cannot run, said in each scorecard) and prints a scorecard per scenario. Exits 1 when a
 * scenario lost an event, duplicated an effect or missed its bound; 2 on a usage error.
 *
 * `--inject-loss` is for tests only: the drills that carry events drop one accepted event, so the
 * scorecard must report the loss and the command fail.
 *
 * `--aws --env <env> <scenario>` starts the scenario's AWS FIS experiment in that environment instead, and
 * follows it to the end (`local/gameday/fis.ts`).
 */
import './drills/quietMetrics.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import { renderReport } from './drills/report.js';
import { SCENARIO_DEFINITIONS, scenarioById } from './drills/scenarios.js';
import { scorecardOf, scorecardTable } from './drills/scorecardText.js';
import type { DrillOptions, DrillResult, ScenarioDefinition } from './drills/types.js';
import { SCENARIOS } from './drills/types.js';
import { UnknownScenarioError } from './gameday/fis.js';
import { followOnTerminal } from './gameday/followOnTerminal.js';

const USAGE =
  'usage: npm run drill -- list | <scenario…> | all [--events N] [--seconds N] [--report DIR] [--json]\n' +
  '       npm run drill -- --aws --env <env> <scenario>\n' +
  `scenarios: ${SCENARIOS.join(', ')}`;

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

const positiveNumber = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) usage(`--${name} takes a positive number, not "${value}"`);
  return n;
};

/** A drill that threw is a failed scorecard naming the error, so the others still run and report. */
function crashed(definition: ScenarioDefinition, error: unknown, wallSeconds: number): DrillResult {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return {
    scenario: definition.id,
    section: definition.section,
    title: definition.title,
    backend: 'the drill stopped before it finished',
    counts: { offered: 0, accepted: 0, applied: 0, lost: 0, duplicateEffects: 0, deadLettered: 0 },
    alarm: { name: 'none', series: 'errorsPerSecond', comparison: '>', threshold: 0, datapoints: 1 },
    detectSeconds: null,
    recoverSeconds: null,
    peakLag: 0,
    affectedPath: 'none',
    peakP99Millis: null,
    bound: { description: 'the drill completes', recoverWithinSeconds: 0 },
    problems: [`the drill failed: ${message}`],
    passed: false,
    wallSeconds,
    timeline: {
      t: [],
      inPerSecond: [],
      appliedPerSecond: [],
      lag: [],
      errorsPerSecond: [],
      degraded: [],
      p99Millis: [],
    },
    faults: [],
    details: {},
  };
}

/** `--aws --env <env> <scenario>`: the scenario's FIS experiment in a deployed environment (docs/game-days.md). */
async function runAws(env: string | undefined, scenarios: string[]): Promise<number> {
  if (env !== 'dev' && env !== 'uat' && env !== 'prod') usage('--aws takes --env dev, uat or prod');
  if (scenarios.length !== 1) usage('--aws takes exactly one scenario');
  try {
    return await followOnTerminal({ env, scenario: scenarios[0] ?? '' });
  } catch (error: unknown) {
    if (error instanceof UnknownScenarioError) usage(error.message);
    throw error;
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      events: { type: 'string' },
      seconds: { type: 'string' },
      report: { type: 'string' },
      json: { type: 'boolean', default: false },
      'inject-loss': { type: 'boolean', default: false },
      aws: { type: 'boolean', default: false },
      env: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.aws) return runAws(values.env, positionals);
  if (positionals.length === 0) usage('name a scenario, `all` or `list`');
  if (positionals[0] === 'list') {
    for (const s of SCENARIO_DEFINITIONS)
      process.stdout.write(`${s.id.padEnd(18)} §${s.section} ${s.title}\n`);
    return 0;
  }
  const chosen = positionals.includes('all')
    ? [...SCENARIO_DEFINITIONS]
    : positionals.map((name) => scenarioById(name) ?? usage(`unknown scenario "${name}"`));
  const options: DrillOptions = {
    events: positiveNumber('events', values.events),
    seconds: positiveNumber('seconds', values.seconds),
    injectLoss: values['inject-loss'],
  };

  const results: DrillResult[] = [];
  const started = performance.now();
  // Progress goes to stderr, so `--json` leaves stdout to the scorecards.
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) });
  const tasks = new Listr(
    chosen.map((definition) => ({
      title: `§${definition.section} ${definition.title} (${definition.id})`,
      task: async (_: unknown, task: { output: string; title: string }) => {
        const drillStarted = performance.now();
        const result = await definition
          .run(options, (message) => {
            task.output = message;
          })
          .catch((error: unknown) => crashed(definition, error, (performance.now() - drillStarted) / 1_000));
        results.push(result);
        task.title = `${task.title}: ${result.passed ? 'PASS' : 'FAIL'} in ${Math.round(result.wallSeconds)} s`;
        if (!result.passed) throw new Error(result.problems.join('; '));
      },
    })),
    {
      concurrent: false,
      exitOnError: false,
      registerSignalListeners: false,
      rendererOptions: { logger, collapseErrors: false },
      fallbackRendererOptions: { logger },
    },
  );
  await tasks.run().catch(() => undefined);
  const wallSeconds = (performance.now() - started) / 1_000;

  if (values.report !== undefined) {
    const dir = resolve(values.report);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'report.html'), renderReport(results));
    await writeFile(join(dir, 'drills.json'), `${JSON.stringify(results, null, 2)}\n`);
    process.stderr.write(`report: ${join(dir, 'report.html')}\n`);
  }
  const failed = results.filter((r) => !r.passed).length;
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ passed: failed === 0, wallSeconds: Math.round(wallSeconds), scorecards: results.map(scorecardOf) }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(`\n${scorecardTable(results)}\n\n`);
    process.stdout.write(
      `${results.length - failed} of ${results.length} drills passed in ${Math.round(wallSeconds)} s\n`,
    );
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
