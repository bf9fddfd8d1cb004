/**
 * `npm run bench -- <name>`: runs one benchmark and prints its figures. Benchmarks measure; tests never
 * assert on time.
 */
const benches: Record<string, () => Promise<{ runBench: (args: string[]) => Promise<void> }>> = {
  consumer: () => import('./consumerBench.js'),
  etl: () => import('./etl.js'),
  ingest: () => import('./ingestBench.js'),
  query: () => import('./queryBench.js'),
};

const [name, ...rest] = process.argv.slice(2);
const load = name === undefined ? undefined : benches[name];
if (load === undefined) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
  process.exit(2);
}
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const { runBench } = await load();
await runBench(rest);
