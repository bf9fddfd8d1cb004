/**
 * `npm run gameday -- --env uat <scenario>`: runs one AWS FIS game-day experiment (docs/game-days.md) in a
 * deployed environment and follows it to the end. Uses the default AWS credentials and region, which must be
 * those of the environment. Exit code 0 only when the experiment completed; Ctrl-C stops it first.
 */
import { parseArgs } from 'node:util';
import { ENVIRONMENT_NAMES } from '../lib/config/index.js';
import { FIS_SCENARIOS, UnknownScenarioError } from './gameday/fis.js';
import { followOnTerminal } from './gameday/followOnTerminal.js';

const USAGE = `usage: npm run gameday -- --env <${ENVIRONMENT_NAMES.join('|')}> <scenario>
       npm run gameday -- --help

Starts the FIS experiment of <scenario> from the cdp-<env>-resilience stack and prints its state until it
ends. Uses the default AWS credentials and region (AWS_PROFILE, AWS_REGION): those of the environment.
Ctrl-C stops the experiment (StopExperiment); so does any of the environment's critical alarms.
Exit code 0 when the experiment completed, 1 when it was stopped or failed.

Scenarios:
${FIS_SCENARIOS.map((s) => `  ${s.id.padEnd(24)} ${s.description}`).join('\n')}

Options:
  --env ENV            dev, uat or prod (prod only where resilience.enabled is set)
  --poll-seconds N     seconds between two looks at the experiment (default 5)
  -h, --help           this text`;

const fail = (message: string): never => {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
};

let parsed: { values: { env?: string; 'poll-seconds'?: string; help?: boolean }; positionals: string[] } = {
  values: {},
  positionals: [],
};
try {
  parsed = parseArgs({
    options: {
      env: { type: 'string' },
      'poll-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
} catch (error: unknown) {
  fail(error instanceof Error ? error.message : String(error));
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const env = values.env;
if (env !== 'dev' && env !== 'uat' && env !== 'prod') fail('give --env dev, uat or prod');
if (positionals.length !== 1) fail('give exactly one scenario');
const pollSeconds = Number(values['poll-seconds'] ?? '5');
if (!Number.isFinite(pollSeconds) || pollSeconds <= 0) fail('--poll-seconds must be a positive number');

try {
  process.exit(
    await followOnTerminal({
      env: env as 'dev' | 'uat' | 'prod',
      scenario: positionals[0] ?? '',
      pollMillis: pollSeconds * 1_000,
    }),
  );
} catch (error: unknown) {
  if (error instanceof UnknownScenarioError) fail(error.message);
  throw error;
}
