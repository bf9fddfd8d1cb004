/**
 * `npm run replay -- --log-dir DIR (--from ISO --to ISO | --partition N --from-offset A --to-offset B)`:
 * copies a time range or an offset range of the events topic of a local log to its retry topic, which the
 * local consumer also reads. The same request validation and copy as the event-replay Lambda.
 */
import { parseArgs } from 'node:util';
import { InvalidReplayRequestError } from '../lambdas/shared/replay/errors.js';
import { LocalEventLog } from '../lambdas/shared/replay/LocalEventLog.js';
import { runReplay } from '../lambdas/shared/replay/replayRecords.js';
import { parseReplayRequest } from '../lambdas/shared/replay/replayRequest.js';
import { LOCAL_RETRY_TOPIC, LOCAL_TOPIC } from './consumer/LocalConsumer.js';
import { LocalLog } from './log/index.js';

const USAGE = `usage: npm run replay -- --log-dir DIR --from ISO-TIME --to ISO-TIME
       npm run replay -- --log-dir DIR --partition N --from-offset A --to-offset B

Copies records of ${LOCAL_TOPIC} unchanged to ${LOCAL_RETRY_TOPIC} (offsets inclusive; times: from
included, to excluded). Consumers are idempotent: what was applied is skipped, what is missing is applied.`;

/** Bad input: exit code 2 with the usage. */
const fail = (message: string): never => {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
};

const integer = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) fail(`--${name} must be a whole number, got "${text}"`);
  return Number(text);
};

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      'log-dir': { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      partition: { type: 'string' },
      'from-offset': { type: 'string' },
      'to-offset': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (error: unknown) {
  fail(error instanceof Error ? error.message : String(error));
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
const logDir = text('log-dir') ?? fail('--log-dir is required');
const input = Object.fromEntries(
  Object.entries({
    from: text('from'),
    to: text('to'),
    partition: integer('partition', text('partition')),
    fromOffset: integer('from-offset', text('from-offset')),
    toOffset: integer('to-offset', text('to-offset')),
  }).filter(([, v]) => v !== undefined),
);

try {
  const request = parseReplayRequest(input);
  const log = await LocalLog.open(logDir);
  await log.createTopic(LOCAL_RETRY_TOPIC, await log.partitionsOf(LOCAL_TOPIC));
  const started = performance.now();
  const eventLog = new LocalEventLog(log);
  const summary = await runReplay(
    {
      reader: eventLog,
      writer: eventLog,
      topic: LOCAL_TOPIC,
      targetTopic: LOCAL_RETRY_TOPIC,
      onProgress: ({ partition, offset, replayed }) =>
        process.stdout.write(`partition ${partition}: up to offset ${offset}, ${replayed} records copied\n`),
    },
    request,
  );
  const ranges =
    summary.ranges.map((r) => `${r.partition}:${r.fromOffset}-${r.toOffset}`).join(' ') || 'none';
  process.stdout.write(
    `replayed ${summary.replayed} records from ${LOCAL_TOPIC} to ${LOCAL_RETRY_TOPIC} (ranges ${ranges}) in ${Math.round(performance.now() - started)} ms\n`,
  );
} catch (error: unknown) {
  if (error instanceof InvalidReplayRequestError) fail(error.message);
  // The log failed (unavailable, corrupt, unknown topic): the input was fine, so no usage.
  process.stderr.write(`replay failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
