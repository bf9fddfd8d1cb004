import { join } from 'node:path';
import type { Envelope } from '../../../lambdas/shared/events/index.js';
import { LOCAL_TOPIC } from '../../consumer/LocalConsumer.js';
import { LocalLog } from '../../log/index.js';
import { LocalLogStream, type LocalStream } from '../../stream/index.js';
import { startDrillKafka } from './drillKafka.js';

/** Where the members consume from: a Kafka cluster, or (one member only) the local log. */
export interface SpikeTarget {
  readonly stream: LocalStream;
  /** Environment of a consumer process reading this stream. */
  readonly memberEnv: Readonly<Record<string, string>>;
  readonly maxMembers: number;
  publish(prefix: string): { publish(envelopes: readonly Envelope[]): Promise<void>; close(): Promise<void> };
}

/** Where Kafka cannot run, the members read the local log: one member at a time (no consumer group). */
export async function logTarget(
  dir: string,
  partitions: number,
): Promise<SpikeTarget & { close(): Promise<void> }> {
  const logDir = join(dir, 'log');
  const writer = await LocalLog.open(logDir, { fsync: false });
  await writer.createTopic(LOCAL_TOPIC, partitions);
  return {
    stream: new LocalLogStream(await LocalLog.open(logDir, { fsync: false })),
    memberEnv: { CDP_LOG_DIR: logDir, CDP_PARTITIONS: String(partitions) },
    maxMembers: 1,
    publish: () => ({
      publish: async (envelopes) => {
        if (envelopes.length > 0)
          await writer.append(
            LOCAL_TOPIC,
            envelopes.map((e) => ({ key: e.customerId, value: JSON.stringify(e) })),
          );
      },
      close: async () => undefined,
    }),
    close: async () => undefined,
  };
}

/** A one-node Kafka cluster with the dev topics: members share the partitions as a consumer group. */
export async function kafkaTarget(maxMembers: number): Promise<SpikeTarget & { close(): Promise<void> }> {
  const { cluster, stream } = await startDrillKafka(1, 'drill-spike', 'spike-drill');
  return {
    stream,
    memberEnv: { CDP_KAFKA_BROKERS: cluster.brokers.join(',') },
    maxMembers,
    publish: (clientId) => {
      const producer = stream.publisher(clientId);
      return {
        publish: (envelopes) => producer.publish(LOCAL_TOPIC, envelopes),
        close: () => producer.close(),
      };
    },
    close: async () => {
      await stream.close();
      await cluster.destroy();
    },
  };
}
