/**
 * Runs the local consumer as its own process, the way a Lambda execution environment runs apart from
 * the event source: `CDP_LOG_DIR`, `CDP_SHARD_MAP` (JSON) and optionally `CDP_REDIS_URL` and
 * `CDP_CONCURRENCY`. Prints one JSON progress line per interval on stdout; SIGTERM stops gracefully
 * (in-flight batches finish and commit), SIGKILL is the crash the drills inject.
 */
import { parseShardMap } from '../../lambdas/shared/sharding/index.js';
import { LocalLog } from '../log/index.js';
import { LOCAL_TOPIC, LocalConsumer } from './LocalConsumer.js';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

const log = await LocalLog.open(required('CDP_LOG_DIR'));
await log.createTopic(LOCAL_TOPIC, Number(process.env.CDP_PARTITIONS ?? 12));
const local = await LocalConsumer.create({
  log,
  shardMap: parseShardMap(required('CDP_SHARD_MAP')),
  redisUrl: process.env.CDP_REDIS_URL,
  concurrency: Number(process.env.CDP_CONCURRENCY ?? 4),
  progressIntervalMillis: 100,
  onProgress: (stats) =>
    process.stdout.write(`${JSON.stringify({ type: 'progress', pid: process.pid, ...stats })}\n`),
});
process.once('SIGTERM', () => {
  void local.close().then(() => process.exit(0));
});
await local.emulator.start();
process.stdout.write(`${JSON.stringify({ type: 'started', pid: process.pid })}\n`);
