import type { RedriveMessage, RedriveSource } from '../../lambdas/shared/replay/redrive.js';
import type { LocalStream } from '../stream/index.js';

/** The cursor of the redrive over the DLQ topic: a consumer group that only this tool moves. */
export const REDRIVE_GROUP = 'cdp-redrive';

/**
 * The local on-failure destination (the DLQ topic of the local log or of a Kafka cluster) as a redrive
 * source. The topic keeps every message; a cursor (the `cdp-redrive` group's offsets) remembers how far the
 * redrive has gone, so a second run starts after the first. Acknowledging a round moves the cursor past
 * everything the round received: failed batches were redriven, dead letters stay in the topic for operators.
 */
export class StreamRedriveSource implements RedriveSource {
  private pending = new Map<number, number>();

  public constructor(
    private readonly stream: LocalStream,
    private readonly topic: string,
    private readonly group = REDRIVE_GROUP,
  ) {}

  public async receive(max: number): Promise<readonly RedriveMessage[]> {
    const reader = this.stream.eventLog();
    const [committed, ends] = await Promise.all([
      this.stream.committedOffsets(this.group, this.topic),
      reader.endOffsets(this.topic),
    ]);
    const messages: RedriveMessage[] = [];
    this.pending = new Map();
    for (const [partition, end] of ends.entries()) {
      const from = committed[partition] ?? 0;
      if (messages.length >= max || end <= from) continue;
      const to = Math.min(end, from + max - messages.length) - 1;
      await reader.read(this.topic, { partition, fromOffset: from, toOffset: to }, async (records) => {
        for (const record of records) {
          messages.push({
            receipt: `${partition}:${record.offset}`,
            body: record.value?.toString('utf8') ?? '',
          });
          this.pending.set(partition, record.offset + 1);
        }
      });
    }
    return messages;
  }

  public async acknowledge(): Promise<void> {
    for (const [partition, next] of this.pending) {
      await this.stream.commitOffset(this.group, this.topic, partition, next);
    }
    this.pending.clear();
  }
}
