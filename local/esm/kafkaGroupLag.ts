import type { Admin } from 'kafkajs';

/**
 * Unconsumed records of `group` per partition of `topic`, from the cluster: high watermark minus the
 * group's committed offset (or minus the earliest offset when the group has committed nothing there, as a
 * mapping starting at TRIM_HORIZON reads from it).
 */
export async function kafkaGroupLag(
  admin: Pick<Admin, 'fetchOffsets' | 'fetchTopicOffsets'>,
  group: string,
  topic: string,
): Promise<Record<number, number>> {
  const [committed, ends] = await Promise.all([
    admin.fetchOffsets({ groupId: group, topics: [topic] }),
    admin.fetchTopicOffsets(topic),
  ]);
  const byPartition = new Map(
    (committed[0]?.partitions ?? []).map((entry) => [entry.partition, Number(entry.offset)]),
  );
  const lag: Record<number, number> = {};
  for (const { partition, high, low } of ends) {
    const next = byPartition.get(partition) ?? -1;
    lag[partition] = Number(high) - (next >= 0 ? next : Number(low));
  }
  return lag;
}
