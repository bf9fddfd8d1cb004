import type { Envelope } from '../../lambdas/shared/events/index.js';
import { INGEST_POLICY_DEFAULTS } from '../../lambdas/shared/ingest/ingestPolicies.js';
import { BackpressureError, type SpilloverBuffer } from '../../lambdas/shared/ingest/publisher.js';
import type { LocalLog } from '../log/index.js';
import { withKeyedLock } from '../log/keyedLock.js';

export const LOCAL_SPILLOVER_TOPIC = 'customer-events.v1.spillover';
export const LOCAL_SPILLOVER_GROUP = 'cdp-spillover-drainer';

/** The spillover is one partition, so spill order is one total order (per customer included). */
const PARTITION = 0;

export interface LocalLogSpilloverOptions {
  readonly log: LocalLog;
  /** Most events the spillover may hold (spilled and not yet acknowledged). */
  readonly bound?: number;
  readonly retryAfterSeconds?: number;
  readonly topic?: string;
  readonly group?: string;
}

/**
 * The spillover of the local platform: a one-partition topic of the local log and a consumer-group offset.
 * spill = append, peek = read from the committed offset, acknowledge = commit, depth = lag. Durable as the
 * log is (fsync per append by default), so a spilled event survives the process.
 *
 * The bound is exact within one process (the check and the append hold one lock); the log allows one
 * appending process per partition anyway. Acknowledgements may come in any order: the offset advances
 * over the acknowledged prefix only, so an event is never skipped.
 *
 * Every access to the spill topic takes the same lock: a LocalLog instance must not read a partition
 * while it appends to it (a read racing an append corrupts the instance's in-memory index). Code that
 * inspects the spill topic directly while this class is in use should open its own LocalLog instance.
 */
export class LocalLogSpillover implements SpilloverBuffer {
  /** Offsets acknowledged beyond the committed one, waiting for the gap before them to close. */
  private readonly acknowledged = new Set<number>();
  private readonly lockKey: string;

  private constructor(
    private readonly log: LocalLog,
    public readonly topic: string,
    public readonly group: string,
    public readonly bound: number,
    private readonly retryAfterSeconds: number,
  ) {
    this.lockKey = `spillover:${log.dir}/${topic}/${group}`;
  }

  /** Opens the spillover, creating its topic when missing. */
  public static async open(options: LocalLogSpilloverOptions): Promise<LocalLogSpillover> {
    const topic = options.topic ?? LOCAL_SPILLOVER_TOPIC;
    await options.log.createTopic(topic, 1);
    return new LocalLogSpillover(
      options.log,
      topic,
      options.group ?? LOCAL_SPILLOVER_GROUP,
      options.bound ?? INGEST_POLICY_DEFAULTS.spillMaxEvents,
      options.retryAfterSeconds ?? INGEST_POLICY_DEFAULTS.spillRetryAfterSeconds,
    );
  }

  public depth(): Promise<number> {
    return withKeyedLock(this.lockKey, () => this.unlockedDepth());
  }

  /**
   * Appends the envelopes in order (key = customerId, value = the JSON envelope).
   * @throws {BackpressureError} when they would take the spillover past its bound; nothing is appended.
   */
  public spill(envelopes: readonly Envelope[]): Promise<void> {
    if (envelopes.length === 0) return Promise.resolve();
    return withKeyedLock(this.lockKey, async () => {
      const depth = await this.unlockedDepth();
      if (depth + envelopes.length > this.bound) {
        throw new BackpressureError(this.retryAfterSeconds, depth, this.bound);
      }
      await this.log.append(
        this.topic,
        envelopes.map((envelope) => ({
          key: envelope.customerId,
          value: JSON.stringify(envelope),
          partition: PARTITION,
        })),
      );
    });
  }

  public peek(max: number): Promise<Array<{ receipt: string; envelope: Envelope }>> {
    return withKeyedLock(this.lockKey, async () => {
      const from = await this.log.committed(this.group, this.topic, PARTITION);
      const end = await this.log.endOffset(this.topic, PARTITION);
      if (from >= end) return [];
      const records = await this.log.read(this.topic, PARTITION, from, max);
      return records.map((record) => ({
        receipt: String(record.offset),
        envelope: JSON.parse(record.value?.toString('utf8') ?? 'null') as Envelope,
      }));
    });
  }

  /**
   * Marks events as republished and commits past every acknowledged one that has no gap before it.
   * @throws {RangeError} for a receipt that is not an offset of this spillover.
   */
  public acknowledge(receipts: readonly string[]): Promise<void> {
    return withKeyedLock(this.lockKey, async () => {
      let committed = await this.log.committed(this.group, this.topic, PARTITION);
      for (const receipt of receipts) {
        const offset = Number(receipt);
        if (!Number.isSafeInteger(offset) || offset < 0)
          throw new RangeError(`not a spillover receipt: ${receipt}`);
        if (offset >= committed) this.acknowledged.add(offset);
      }
      const before = committed;
      while (this.acknowledged.delete(committed)) committed += 1;
      if (committed > before) await this.log.commit(this.group, this.topic, PARTITION, committed);
    });
  }

  private async unlockedDepth(): Promise<number> {
    const end = await this.log.endOffset(this.topic, PARTITION);
    return end - (await this.log.committed(this.group, this.topic, PARTITION));
  }
}
