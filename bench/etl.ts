import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pgCopy from 'pg-copy-streams';
import { applyEventsToShard } from '../lambdas/shared/customers/applyEventsToShard.js';
import { shapedCustomerColumns } from '../lambdas/shared/etl/reportingRow.js';
import { decodeEvent } from '../lambdas/shared/events/index.js';
import { ShardRouter } from '../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../lambdas/shared/sql/index.js';
import { LocalDataServices } from '../local/platform/LocalDataServices.js';
import { generateTraffic } from '../local/traffic/generateTraffic.js';
import { runEtlLocally } from '../local/workflows/etl.js';

const LOAD_CHUNK = 1_000;

/** Registers `customers` customers (plus some changes) on the shards through the consumer's writer. */
async function fillShards(services: LocalDataServices, customers: number): Promise<void> {
  const router = new ShardRouter(services.shardMap);
  const traffic = generateTraffic({
    events: Math.round(customers * 1.5),
    customers,
    customerPrefix: 'ebench',
  });
  await Promise.all(
    services.shardMap.shards.map(async (shard) => {
      const client = services.shardClient(shard.id);
      const mine = traffic.filter((e) => router.shardFor(e.customerId).id === shard.id);
      try {
        for (let i = 0; i < mine.length; i += LOAD_CHUNK) {
          const chunk = mine.slice(i, i + LOAD_CHUNK).map((e) => ({
            event: decodeEvent(Buffer.from(JSON.stringify(e)).toString('base64')),
          }));
          await applyEventsToShard(client, chunk, (id) => router.bucketOf(id));
        }
      } finally {
        await client.close();
      }
    }),
  );
}

const SCRATCH = `CREATE TABLE etl_copy_scratch (
  customer_id text, source_shard text, event_count bigint, email text, phone text, given_name text, family_name text, address_line1 text,
  address_line2 text, address_city text, address_postal_code text, address_country text,
  erased boolean, registered_at timestamptz, erased_at timestamptz, last_event_at timestamptz,
  source_updated_at timestamptz)`;

/**
 * The baseline: the same rows in the same shape streamed with `COPY ... TO STDOUT` from each shard into
 * `COPY ... FROM STDIN` of a scratch table of the warehouse, all shards at once. No upsert, no validation,
 * no audit: the fastest the bytes can move between the two databases.
 */
async function rawCopy(services: LocalDataServices): Promise<number> {
  const connect = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return client;
  };
  const setup = await connect(services.warehouseUrl ?? '');
  await setup.query(SCRATCH);
  await setup.end();
  const started = performance.now();
  await Promise.all(
    services.shardMap.shards.map(async (shard) => {
      const [source, target] = await Promise.all([
        connect(shard.url ?? ''),
        connect(services.warehouseUrl ?? ''),
      ]);
      try {
        await pipeline(
          source.query(
            pgCopy.to(
              `COPY (SELECT ${shapedCustomerColumns('digest', source.escapeLiteral(shard.id))} FROM customers) TO STDOUT`,
            ),
          ),
          target.query(pgCopy.from('COPY etl_copy_scratch FROM STDIN')),
        );
      } finally {
        await Promise.all([source.end(), target.end()]);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

export async function runBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      customers: { type: 'string', default: '50000' },
      shards: { type: 'string', default: '4' },
      'page-size': { type: 'string', default: '1000' },
    },
  });
  const customers = Number(values.customers);
  const shardCount = Number(values.shards);
  const pageSize = Number(values['page-size']);
  console.log(`etl bench: ${customers} customers over ${shardCount} shards, pages of ${pageSize} rows`);
  const services = await LocalDataServices.start({
    shards: shardCount,
    redis: false,
    warehouse: true,
    name: 'etl-bench',
  });
  const shards = new Map(
    services.shardMap.shards.map((s) => [
      s.id,
      new PgSqlClient({ name: s.id, connectionString: s.url ?? '' }),
    ]),
  );
  const warehouse = services.warehouseClient();
  try {
    await fillShards(services, customers);
    const byState = new Map<string, number>();
    const started = performance.now();
    const result = await runEtlLocally({
      shards,
      warehouse,
      settings: { settleSeconds: 0, pageSize },
      intercept: async (state, input, next) => {
        const t = performance.now();
        try {
          return await next(input);
        } finally {
          byState.set(state, (byState.get(state) ?? 0) + (performance.now() - t));
        }
      },
    });
    const etlSeconds = (performance.now() - started) / 1000;
    if (result.status !== 'SUCCEEDED') throw new Error(`ETL failed: ${result.error}: ${result.cause}`);
    const rows = Number((result.output as { rowsExtracted?: number }).rowsExtracted);
    if (rows !== customers) throw new Error(`ETL loaded ${rows} rows, expected ${customers}`);
    const copySeconds = await rawCopy(services);
    const copied = await warehouse.query<{ n: number }>('SELECT count(*)::int AS n FROM etl_copy_scratch');
    if (copied.rows[0]?.n !== customers) throw new Error(`COPY moved ${copied.rows[0]?.n} rows`);

    const etlRate = rows / etlSeconds;
    const copyRate = customers / copySeconds;
    console.log(
      `full ETL run (state machine: open, ${shardCount} shards x extract+load+validate, close): ` +
        `${rows} rows in ${etlSeconds.toFixed(2)} s = ${etlRate.toFixed(0)} rows/s`,
    );
    console.log(
      `  time in steps (summed over shards): ${[...byState]
        .map(([state, ms]) => `${state} ${(ms / 1000).toFixed(2)} s`)
        .join(', ')}`,
    );
    console.log(
      `raw COPY shards → warehouse scratch table (${shardCount} streams at once): ` +
        `${customers} rows in ${copySeconds.toFixed(2)} s = ${copyRate.toFixed(0)} rows/s`,
    );
    console.log(`ratio ETL / COPY: ${(etlRate / copyRate).toFixed(2)}`);
  } finally {
    await Promise.all([...shards.values(), warehouse].map((c) => c.close()));
    await services.stop();
  }
}
