import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pgCopy from 'pg-copy-streams';
import { applyEventsToShard } from '../lambdas/shared/customers/applyEventsToShard.js';
import { extractPages, loadPage, type ShardWindow } from '../lambdas/shared/etl/extractLoad.js';
import { shapedCustomerColumns } from '../lambdas/shared/etl/reportingRow.js';
import { validateShard } from '../lambdas/shared/etl/validateShard.js';
import { decodeEvent } from '../lambdas/shared/events/index.js';
import { etlSettings } from '../lambdas/shared/resilience/defaults.js';
import { etlSqlPolicy } from '../lambdas/shared/resilience/named.js';
import { ShardRouter } from '../lambdas/shared/sharding/index.js';
import { PgSqlClient, type SqlClient, type SqlRow } from '../lambdas/shared/sql/index.js';
import { LocalDataServices } from '../local/platform/LocalDataServices.js';
import { generateTraffic } from '../local/traffic/generateTraffic.js';
import { runEtlLocally } from '../local/workflows/etl.js';
import { measure, printRatio, printStage, type StageFigures, timed } from './measure.js';

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
      // A generous connect timeout: on a loaded shared machine the default 2 s is not always enough.
      const client = new PgSqlClient({
        name: shard.id,
        connectionString: shard.url ?? '',
        connectTimeoutMillis: 30_000,
      });
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

/** Every shard's window of the bench: all of its rows. */
const windowOf = (shardId: string): ShardWindow => ({
  batchId: 'bench-stage',
  run: 1,
  shardId,
  windowStart: '1970-01-01T00:00:00.000Z',
  windowEnd: '2100-01-01T00:00:00.000Z',
});

/**
 * The steps of the ETL one by one, each over every shard at once (as the state machine's Map runs them):
 * extract alone (pages kept in memory), load alone (those pages into an emptied `dim_customer`),
 * validate alone, then the raw COPY.
 */
async function stages(
  shards: ReadonlyMap<string, SqlClient>,
  warehouse: SqlClient,
  services: LocalDataServices,
  pageSize: number,
): Promise<StageFigures[]> {
  const options = { policy: etlSqlPolicy(etlSettings()), pageSize };
  const pages = new Map<string, (readonly SqlRow[])[]>();
  const extract = await measure('extract (pages from the shards, kept in memory)', undefined, async (h) => {
    let rows = 0;
    await Promise.all(
      [...shards].map(async ([shardId, source]) => {
        const list: (readonly SqlRow[])[] = [];
        const iterator = extractPages(source, windowOf(shardId), options);
        for (;;) {
          const next = await timed(h, () => iterator.next());
          if (next.done) break;
          list.push(next.value);
          rows += next.value.length;
        }
        pages.set(shardId, list);
      }),
    );
    return rows;
  });
  await warehouse.query('TRUNCATE dim_customer');
  const load = await measure('load (those pages upserted into the warehouse)', undefined, async (h) => {
    let rows = 0;
    await Promise.all(
      [...pages].map(async ([shardId, list]) => {
        for (const page of list) {
          const written = await timed(h, () => loadPage(warehouse, windowOf(shardId), page, options.policy));
          rows += written;
        }
      }),
    );
    return rows;
  });
  const validate = await measure('validate (both sides compared)', undefined, async (h) => {
    const checked = await Promise.all(
      [...shards].map(([shardId, source]) =>
        timed(h, () => validateShard(source, warehouse, windowOf(shardId), options)),
      ),
    );
    return checked.reduce((n, v) => n + v.sourceRows, 0);
  });
  const copy = await measure('raw COPY shards → warehouse scratch table', undefined, async (h) => {
    await timed(h, () => rawCopy(services));
    const copied = await warehouse.query<{ n: number }>('SELECT count(*)::int AS n FROM etl_copy_scratch');
    return Number(copied.rows[0]?.n);
  });
  return [extract, load, validate, copy];
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
    // As autovacuum would have on a live shard: the first timed read must not be the one that sets the
    // hint bits of every freshly written row (the later stages would not pay for it).
    await Promise.all([...shards.values()].map((client) => client.query('VACUUM ANALYZE customers')));
    const byState = new Map<string, number>();
    const calls = new Map<string, number>();
    let result: Awaited<ReturnType<typeof runEtlLocally>> | undefined;
    const etl = await measure(
      'full ETL run (state machine: open, extract+load+validate per shard, close)',
      undefined,
      async () => {
        result = await runEtlLocally({
          shards,
          warehouse,
          settings: { settleSeconds: 0, pageSize },
          intercept: async (state, input, next) => {
            const t = performance.now();
            calls.set(state, (calls.get(state) ?? 0) + 1);
            try {
              return await next(input);
            } finally {
              byState.set(state, (byState.get(state) ?? 0) + (performance.now() - t));
            }
          },
        });
        if (result.status !== 'SUCCEEDED') throw new Error(`ETL failed: ${result.error}: ${result.cause}`);
        return Number((result.output as { rowsExtracted?: number }).rowsExtracted);
      },
    );
    if (etl.count !== customers) throw new Error(`ETL loaded ${etl.count} rows, expected ${customers}`);
    const [extract, load, validate, copy] = await stages(shards, warehouse, services, pageSize);
    if (extract === undefined || load === undefined || validate === undefined || copy === undefined) return;
    for (const stage of [extract, load, validate, copy]) {
      if (stage.count !== customers)
        throw new Error(`${stage.name}: ${stage.count} rows, expected ${customers}`);
    }
    console.log('stages (every shard at once; CPU is this Node process only, not PostgreSQL):');
    printStage(etl, 'row', 'run');
    console.log(
      `    time in steps (summed over shards): ${[...byState]
        .map(([state, ms]) => `${state} ${(ms / 1000).toFixed(2)} s (${calls.get(state)} calls)`)
        .join(', ')}`,
    );
    printStage(extract, 'row', 'page');
    printStage(load, 'row', 'page');
    printStage(validate, 'row', 'shard');
    printStage(copy, 'row', 'copy');
    console.log('ratios:');
    printRatio('ETL ÷ raw COPY', etl, copy, 0.3);
    printRatio('extract ÷ raw COPY', extract, copy);
    printRatio('load ÷ raw COPY', load, copy);
    printRatio('validate ÷ raw COPY', validate, copy);
  } finally {
    await Promise.all([...shards.values(), warehouse].map((c) => c.close()));
    await services.stop();
  }
}
