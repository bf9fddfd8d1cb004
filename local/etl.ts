/**
 * `npm run etl -- --shard <url> [--shard <url> ...] --warehouse <url> [--retry-failed] [--settle-seconds <n>]`:
 * runs one ETL batch (step-functions/etl.asl.json, locally) from the shard databases into the warehouse, or with
 * `--retry-failed` re-runs every FAILED batch as the scheduled recovery job does. The warehouse schema is
 * applied first (idempotent). Shards are named shard-0, shard-1, ... in the order given.
 */
import { parseArgs } from 'node:util';
import { recoverBatches } from '../lambdas/shared/etl/recoverBatches.js';
import { migrateShard } from '../lambdas/shared/migrations/index.js';
import { etlSettings } from '../lambdas/shared/resilience/defaults.js';
import { PgSqlClient } from '../lambdas/shared/sql/index.js';
import { WAREHOUSE_MIGRATIONS } from '../lambdas/shared/warehouse/migrations.js';
import { LocalBatchStarter, type LocalEtlOptions, runEtlLocally } from './workflows/etl.js';
import type { WorkflowResult } from './workflows/runWorkflow.js';

const USAGE =
  'usage: npm run etl -- --shard <postgres url> [--shard <url> ...] --warehouse <postgres url> ' +
  '[--retry-failed] [--settle-seconds <n>]';

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseOptions>;
function parseOptions() {
  return parseArgs({
    options: {
      shard: { type: 'string', multiple: true },
      warehouse: { type: 'string' },
      'retry-failed': { type: 'boolean', default: false },
      'settle-seconds': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
}
try {
  parsed = parseOptions();
} catch (error: unknown) {
  fail(error instanceof Error ? error.message : String(error));
}
const { values } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const shardUrls = values.shard ?? [];
if (shardUrls.length === 0) fail('give at least one --shard');
if (values.warehouse === undefined) fail('give the --warehouse database');
const settleSeconds = values['settle-seconds'] === undefined ? undefined : Number(values['settle-seconds']);
if (settleSeconds !== undefined && !(Number.isFinite(settleSeconds) && settleSeconds >= 0)) {
  fail(`--settle-seconds must be a number of seconds >= 0, got ${values['settle-seconds']}`);
}
for (const url of [...shardUrls, values.warehouse]) {
  if (!/^postgres(ql)?:\/\//.test(url)) fail(`not a PostgreSQL URL: ${url}`);
}

const shards = new Map(
  shardUrls.map((url, i) => [`shard-${i}`, new PgSqlClient({ name: `shard-${i}`, connectionString: url })]),
);
const warehouse = new PgSqlClient({ name: 'warehouse', connectionString: values.warehouse });
const options: LocalEtlOptions = {
  shards,
  warehouse,
  settings: settleSeconds === undefined ? {} : { settleSeconds },
  notify: (n) => console.log(`notification to ${n.topicArn}: ${n.subject}`),
  intercept: async (state, input, next) => {
    const shard =
      typeof input === 'object' && input !== null && 'shardId' in input ? ` ${input.shardId}` : '';
    const started = performance.now();
    try {
      const output = await next(input);
      console.log(
        `  ${state}${shard}: done in ${Math.round(performance.now() - started)} ms ${JSON.stringify(output)}`,
      );
      return output;
    } catch (error: unknown) {
      console.log(
        `  ${state}${shard}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      );
      throw error;
    }
  },
};

const describe = (result: WorkflowResult) =>
  result.status === 'SUCCEEDED' ? 'SUCCEEDED' : `FAILED (${result.error}: ${result.cause})`;

let exitCode = 0;
try {
  const migrated = await migrateShard(warehouse, WAREHOUSE_MIGRATIONS);
  if (migrated.applied.length > 0) console.log(`warehouse schema: applied [${migrated.applied.join(', ')}]`);
  if (values['retry-failed']) {
    console.log('re-running FAILED batches');
    const starter = new LocalBatchStarter(options);
    const report = await recoverBatches({ warehouse, starter, settings: etlSettings(options.settings) });
    for (const { rerun, result } of starter.executions) {
      console.log(`batch ${rerun.batchId} run ${rerun.run}: ${describe(result)}`);
      if (result.status === 'FAILED') exitCode = 1;
    }
    if (report.exhausted.length > 0) console.log(`out of re-runs: ${report.exhausted.join(', ')}`);
    console.log(
      `failed batches before: ${report.failedBatches}; watermark ${report.watermark ?? 'none'} ` +
        `(${report.watermark === null ? 'no successful batch yet; ' : ''}${Math.round(report.stalenessSeconds)} s stale)`,
    );
  } else {
    console.log(`running one batch over ${shards.size} shards`);
    const result = await runEtlLocally(options);
    console.log(`batch ${describe(result)}`);
    if (result.status === 'SUCCEEDED') console.log(JSON.stringify(result.output, null, 2));
    else exitCode = 1;
  }
} catch (error: unknown) {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  exitCode = 1;
} finally {
  await Promise.all([...shards.values(), warehouse].map((c) => c.close()));
}
process.exit(exitCode);
