/**
 * `npm run migrate -- --url postgres://.../shard_0 [--url ...]`: applies the shard schema to each database
 * (the same idempotent runner the AWS custom resource uses). Safe to run again and concurrently.
 */
import { parseArgs } from 'node:util';
import { migrateShard } from '../lambdas/shared/migrations/index.js';
import { PgSqlClient } from '../lambdas/shared/sql/index.js';

const { values } = parseArgs({ options: { url: { type: 'string', multiple: true } } });
const urls = values.url ?? [];
if (urls.length === 0) {
  console.error('usage: npm run migrate -- --url <postgres url of a shard database> [--url ...]');
  process.exit(2);
}
let failed = false;
for (const [i, url] of urls.entries()) {
  const client = new PgSqlClient({ name: `shard-${i}`, connectionString: url });
  try {
    const report = await migrateShard(client);
    console.log(
      `${report.shard}: applied [${report.applied.join(', ')}], already applied [${report.alreadyApplied.join(', ')}]`,
    );
  } catch (error: unknown) {
    failed = true;
    console.error(`shard-${i}: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await client.close();
  }
}
process.exit(failed ? 1 : 0);
