import type { PendingEvent } from '../customers/applyEventsToShard.js';
import type { EventOutcome } from './outcomes.js';

interface Waiter {
  readonly pending: PendingEvent;
  readonly resolve: (outcome: EventOutcome) => void;
  readonly reject: (error: unknown) => void;
}

interface ShardQueue {
  expected: number;
  settled: number;
  waiting: Waiter[];
  timer: NodeJS.Timeout | undefined;
}

/** Applies events to a shard; resolves with the outcome of each event handed in. */
export type FlushShard = (
  shardId: string,
  events: readonly PendingEvent[],
) => Promise<ReadonlyMap<PendingEvent, EventOutcome>>;

/**
 * Gathers the events of one invocation that reach a shard one by one (each through its own idempotency
 * guard) and applies them in as few transactions as possible. The batcher is told how many events to
 * expect per shard; it flushes a shard when every expected event has either been submitted or settled
 * another way (for example answered from the idempotency store), or when `maxWaitMillis` passes, or
 * when `maxBatch` events are waiting.
 */
export class ShardBatcher {
  private readonly queues = new Map<string, ShardQueue>();

  public constructor(
    private readonly flushShard: FlushShard,
    private readonly maxBatch: number,
    private readonly maxWaitMillis: number,
  ) {}

  /** Declares how many events the invocation will route to `shardId`. */
  public expect(shardId: string, count: number): void {
    this.queueOf(shardId).expected += count;
  }

  /** Queues an event; resolves with its outcome once its shard transaction committed. */
  public submit(shardId: string, pending: PendingEvent): Promise<EventOutcome> {
    const queue = this.queueOf(shardId);
    return new Promise<EventOutcome>((resolve, reject) => {
      queue.waiting.push({ pending, resolve, reject });
      queue.settled += 1;
      this.maybeFlush(shardId, queue);
    });
  }

  /** Records that an expected event will not be submitted (answered elsewhere or failed before). */
  public settleWithoutSubmit(shardId: string): void {
    const queue = this.queueOf(shardId);
    queue.settled += 1;
    this.maybeFlush(shardId, queue);
  }

  private queueOf(shardId: string): ShardQueue {
    let queue = this.queues.get(shardId);
    if (queue === undefined) {
      queue = { expected: 0, settled: 0, waiting: [], timer: undefined };
      this.queues.set(shardId, queue);
    }
    return queue;
  }

  private maybeFlush(shardId: string, queue: ShardQueue): void {
    if (queue.waiting.length === 0) return;
    if (queue.settled >= queue.expected || queue.waiting.length >= this.maxBatch) {
      this.flush(shardId, queue);
    } else if (queue.timer === undefined) {
      queue.timer = setTimeout(() => this.flush(shardId, queue), this.maxWaitMillis);
    }
  }

  private flush(shardId: string, queue: ShardQueue): void {
    if (queue.timer !== undefined) clearTimeout(queue.timer);
    queue.timer = undefined;
    const batch = queue.waiting;
    queue.waiting = [];
    if (batch.length === 0) return;
    this.flushShard(
      shardId,
      batch.map((w) => w.pending),
    ).then(
      (outcomes) => {
        for (const w of batch) {
          const outcome = outcomes.get(w.pending);
          if (outcome === undefined) w.reject(new Error(`no outcome for event ${w.pending.event.eventId}`));
          else w.resolve(outcome);
        }
      },
      (error: unknown) => {
        for (const w of batch) w.reject(error);
      },
    );
  }
}
