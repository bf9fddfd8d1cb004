import { applyTopics, configuredTopics } from '../../kafka/topics.js';
import { KafkaCluster } from '../../services/KafkaCluster.js';
import { KafkaStream } from '../../stream/index.js';

/** A drill's Kafka cluster on loopback with the dev environment's topics, and a stream on it. */
export async function startDrillKafka(
  nodes: 1 | 3,
  name: string,
  clientId: string,
): Promise<{ readonly cluster: KafkaCluster; readonly stream: KafkaStream }> {
  const cluster = await KafkaCluster.start({ nodes, name });
  const admin = await cluster.admin();
  await applyTopics(admin, configuredTopics('dev')).finally(() => admin.disconnect());
  return { cluster, stream: new KafkaStream({ brokers: cluster.brokers, clientId }) };
}
