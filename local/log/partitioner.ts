import { Partitioners, type PartitionMetadata } from 'kafkajs';

/** Chooses the partition of a message without an explicit one. */
export type KeyPartitioner = (topic: string, partitionCount: number, key: Buffer | null) => number;

/**
 * kafkajs's default (Java-compatible, murmur2) partitioner, so a key lands on the same partition as it
 * would on a cluster with the same partition count; keyless messages go round robin.
 */
export function createKafkaPartitioner(): KeyPartitioner {
  const partition = Partitioners.DefaultPartitioner();
  const metadataByCount = new Map<number, PartitionMetadata[]>();
  return (topic, partitionCount, key) => {
    let partitionMetadata = metadataByCount.get(partitionCount);
    if (partitionMetadata === undefined) {
      partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
        partitionErrorCode: 0,
        partitionId,
        leader: 0,
        replicas: [0],
        isr: [0],
      }));
      metadataByCount.set(partitionCount, partitionMetadata);
    }
    return partition({ topic, partitionMetadata, message: { key, value: null } });
  };
}
