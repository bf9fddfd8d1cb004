/**
 * Runs the local consumer as its own process, the way a Lambda execution environment runs apart from
 * the event source: `CDP_LOG_DIR` (the local log) or `CDP_KAFKA_BROKERS` (comma-separated addresses of a
 * Kafka cluster: the process joins the mappings' consumer groups, so several processes share the
 * partitions), the shard map, and optionally `CDP_REDIS_URL`, `CDP_CONCURRENCY` and `CDP_BATCH_SIZE`.
 * The shard map comes from `CDP_SHARD_MAP_FILE` (preferred: a JSON file re-read every
 * `CDP_SHARD_MAP_POLL_MILLIS`, 200 by default, so a shard repointed at a promoted replica is followed
 * without a restart) or `CDP_SHARD_MAP` (JSON, fixed for the life of the process).
 * Prints one JSON progress line per interval on stdout; SIGTERM stops gracefully (in-flight batches
 * finish and commit), SIGKILL is the crash the drills inject.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { fileShardMapSource, parseShardMap, ShardDirectory } from '../../lambdas/shared/sharding/index.js';
import type { EventSourceStats } from '../esm/index.js';
import { LocalLog } from '../log/index.js';
import { KafkaStream, LocalLogStream } from '../stream/index.js';
import { LOCAL_TOPIC, LocalConsumer } from './LocalConsumer.js';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

const concurrency = Number(process.env.CDP_CONCURRENCY ?? 4);
/** Records per invocation (the mapping's batch size); the local default unless told. */
const batchSize = process.env.CDP_BATCH_SIZE ? Number(process.env.CDP_BATCH_SIZE) : undefined;
const redisUrl = process.env.CDP_REDIS_URL;
const onProgress = (stats: EventSourceStats) =>
  process.stdout.write(`${JSON.stringify({ type: 'progress', pid: process.pid, ...stats })}\n`);

const brokers = process.env.CDP_KAFKA_BROKERS;
const stream = brokers
  ? new KafkaStream({ brokers: brokers.split(','), clientId: `cdp-consumer-${process.pid}` })
  : new LocalLogStream(await LocalLog.open(required('CDP_LOG_DIR')));
await stream.createTopic(LOCAL_TOPIC, Number(process.env.CDP_PARTITIONS ?? 12));
const mapFile = process.env.CDP_SHARD_MAP_FILE;
// With a map file, a directory follows it so a shard repointed at a promoted replica is written to on its
// new endpoint by the next transaction, without a restart.
const directory = mapFile
  ? await ShardDirectory.open(fileShardMapSource(mapFile), {
      pollMillis: Number(process.env.CDP_SHARD_MAP_POLL_MILLIS ?? 200),
      logger: new Logger({ serviceName: 'consumer', logLevel: 'WARN' }),
    })
  : undefined;
directory?.start();
const local = await LocalConsumer.create({
  stream,
  shardMap: directory?.map ?? parseShardMap(required('CDP_SHARD_MAP')),
  shards: directory?.shards,
  redisUrl,
  concurrency,
  ...(batchSize === undefined ? {} : { mapping: { batchSize } }),
  progressIntervalMillis: 100,
  onProgress,
});
process.once('SIGTERM', () => {
  void local
    .close()
    .then(() => stream.close())
    .then(() => directory?.close())
    .then(() => process.exit(0));
});
await local.start();
process.stdout.write(`${JSON.stringify({ type: 'started', pid: process.pid })}\n`);
