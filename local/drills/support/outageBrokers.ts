import { join } from 'node:path';
import type { EventPublisher } from '../../../lambdas/shared/ingest/publisher.js';
import { LOCAL_TOPIC } from '../../consumer/LocalConsumer.js';
import { FaultyLocalBroker } from '../../ingest/index.js';
import { LocalLog } from '../../log/index.js';
import { LocalLogStream, type LocalStream } from '../../stream/index.js';
import { startDrillKafka } from './drillKafka.js';

/** Where the topic lives, and how the outage is put on it. */
export interface Brokers {
  readonly description: string;
  readonly stream: LocalStream;
  publisher(clientId: string): EventPublisher;
  pause(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function kafkaBrokers(): Promise<Brokers> {
  const { cluster, stream } = await startDrillKafka(3, 'drill-kafka-outage', 'kafka-outage');
  return {
    description: 'Apache Kafka (3 KRaft nodes on loopback)',
    stream,
    publisher: (clientId) => stream.publisher(clientId),
    // Every broker paused (SIGSTOP: connections open, nothing answers).
    pause: async () => {
      for (const node of cluster.nodes) node.pause();
    },
    // Every broker killed (SIGKILL: connections refused).
    kill: async () => {
      await Promise.all(cluster.nodes.map((node) => node.kill()));
    },
    // All three at once: a single node cannot form the controller quorum (2 of 3 voters) on its own.
    restart: async () => {
      await Promise.all(cluster.nodes.map((node) => node.start()));
      await cluster.waitForBrokers(3);
    },
    close: async () => {
      await stream.close();
      await cluster.destroy();
    },
  };
}

export async function logBrokers(dir: string): Promise<Brokers> {
  const writer = await LocalLog.open(join(dir, 'brokers'));
  await writer.createTopic(LOCAL_TOPIC, 12);
  const broker = new FaultyLocalBroker(writer, { hangTimeoutMillis: 30_000 });
  // The consumer reads through its own instance, as a separate process would.
  const stream = new LocalLogStream(await LocalLog.open(join(dir, 'brokers')));
  return {
    description: 'the local log behind a fault switch (Kafka cannot run here)',
    stream,
    publisher: () => broker,
    pause: async () => broker.setFault('hang'),
    kill: async () => broker.setFault('refuse'),
    restart: async () => broker.setFault('none'),
    close: async () => broker.close(),
  };
}
