/**
 * `npm run redrive -- --log-dir DIR` or `npm run redrive -- --kafka HOST:PORT[,HOST:PORT]`: after a bad
 * consumer version was rolled back or fixed, copies the record ranges of every failed batch in the
 * consumer's on-failure destination (the DLQ topic) to the retry topic, which the consumer's second mapping
 * reads. Dead letters (poison records) are left alone. A cursor remembers what was redriven, so running it
 * again copies only what failed since. The same redrive as the event-redrive Lambda.
 */
import { parseArgs } from 'node:util';
import { type RedriveReport, redriveFailures } from '../lambdas/shared/replay/redrive.js';
import { LOCAL_DLQ_TOPIC, LOCAL_RETRY_TOPIC, LOCAL_TOPIC } from './consumer/LocalConsumer.js';
import { LocalLog } from './log/index.js';
import { StreamRedriveSource } from './redrive/StreamRedriveSource.js';
import { KafkaStream, LocalLogStream, type LocalStream } from './stream/index.js';

const USAGE = `usage: npm run redrive -- --log-dir DIR
       npm run redrive -- --kafka HOST:PORT[,HOST:PORT...]

Copies the records of every failed batch in ${LOCAL_DLQ_TOPIC} (the consumer's on-failure destination) to
${LOCAL_RETRY_TOPIC}, once; the consumer applies them exactly once. Dead letters (poison records) stay put.
Run it after the version that failed them was rolled back or fixed.

Options:
  --log-dir DIR    the local log of \`npm start -- --data-dir DIR\`
  --kafka BROKERS  a Kafka cluster (\`npm start -- --kafka\` prints its brokers)
  -h, --help       this text`;

const fail = (message: string): never => {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
};

let values: { 'log-dir'?: string; kafka?: string; help?: boolean } = {};
try {
  ({ values } = parseArgs({
    options: {
      'log-dir': { type: 'string' },
      kafka: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (error: unknown) {
  fail(error instanceof Error ? error.message : String(error));
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if ((values['log-dir'] === undefined) === (values.kafka === undefined))
  fail('give either --log-dir or --kafka');

const describeReport = (report: RedriveReport): string =>
  [
    `${report.messages} message(s) in ${LOCAL_DLQ_TOPIC}: ${report.failedBatches} failed batch(es), ` +
      `${report.deadLetters} dead letter(s) left in place, ${report.unrecognised} unrecognised`,
    ...report.ranges.map(
      (r) => `  ${r.topic} partition ${r.partition}: offsets ${r.fromOffset}-${r.toOffset}`,
    ),
    ...report.foreign.map((r) => `  not redriven (not a consumer topic): ${r.topic}-${r.partition}`),
    `redrove ${report.replayed} record(s) to ${LOCAL_RETRY_TOPIC}`,
  ].join('\n');

let stream: LocalStream | undefined;
try {
  stream =
    values.kafka !== undefined
      ? new KafkaStream({ brokers: values.kafka.split(','), clientId: 'cdp-redrive' })
      : new LocalLogStream(await LocalLog.open(values['log-dir'] ?? ''));
  const eventLog = stream.eventLog();
  const report = await redriveFailures(new StreamRedriveSource(stream, LOCAL_DLQ_TOPIC), {
    reader: eventLog,
    writer: eventLog,
    targetTopic: LOCAL_RETRY_TOPIC,
    topics: [LOCAL_TOPIC, LOCAL_RETRY_TOPIC],
  });
  process.stdout.write(`${describeReport(report)}\n`);
  await stream.close();
  process.exit(0);
} catch (error: unknown) {
  process.stderr.write(`redrive failed: ${error instanceof Error ? error.message : String(error)}\n`);
  await stream?.close().catch(() => undefined);
  process.exit(1);
}
