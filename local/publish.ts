/**
 * `npm run publish -- --data-dir DIR [--events N] [--customers N] [--seed N] [--prefix P]`: appends sample
 * customer events to the local log of a running `npm start -- --data-dir DIR --follow`, which consumes
 * them as they arrive.
 */
import { parseArgs } from 'node:util';
import { LOCAL_TOPIC } from './consumer/LocalConsumer.js';
import { LocalLog } from './log/index.js';
import { generateTraffic } from './traffic/generateTraffic.js';
import { publishToLog } from './traffic/publishToLog.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    events: { type: 'string', default: '1000' },
    customers: { type: 'string', default: '100' },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    prefix: { type: 'string', default: `live-${Date.now().toString(36)}` },
  },
});
const dir = values['data-dir'];
const events = Number(values.events);
const customers = Number(values.customers);
if (!dir || !Number.isInteger(events) || events < 1 || !Number.isInteger(customers) || customers < 1) {
  console.error(
    'usage: npm run publish -- --data-dir DIR [--events N>=1] [--customers N>=1] [--seed N] [--prefix P]',
  );
  process.exit(2);
}
const log = await LocalLog.open(dir);
const traffic = generateTraffic({
  events,
  customers: Math.min(customers, events),
  seed: Number(values.seed),
  customerPrefix: values.prefix ?? 'live',
});
await publishToLog(log, LOCAL_TOPIC, traffic, {
  onProgress: (n) => process.stdout.write(`\r  published ${n} of ${traffic.length} to ${LOCAL_TOPIC}`),
});
console.log();
