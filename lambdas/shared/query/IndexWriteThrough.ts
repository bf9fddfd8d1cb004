import type { Logger } from '@aws-lambda-powertools/logger';
import type { IndexedCustomer } from '../index/CustomerIndex.js';
import type { GuardedIndex } from './GuardedIndex.js';

export interface IndexWriteThroughOptions {
  readonly logger: Logger;
  /** Entries kept while Redis is unusable; the oldest are dropped beyond (the index rebuild restores them). */
  readonly maxPending: number;
  /** Entries written per Redis round of a flush. */
  readonly batchSize: number;
}

/**
 * Writes what look-ups found in the shards into the index: at once when Redis is usable, otherwise once
 * it is back (`flush`). Writes carry the customer's event count, so an older state never overwrites a
 * newer one the consumer indexed meanwhile.
 */
export class IndexWriteThrough {
  /** Newest last. */
  private readonly pending = new Map<string, IndexedCustomer>();
  private flushing: Promise<number> | undefined;
  private writtenCount = 0;

  public constructor(
    private readonly index: GuardedIndex,
    private readonly options: IndexWriteThroughOptions,
  ) {}

  /** Writes now, or keeps the entries for `flush` when Redis is unusable or the write fails. */
  public async write(entries: readonly IndexedCustomer[]): Promise<void> {
    if (!this.index.isReady) {
      this.defer(entries);
      return;
    }
    try {
      await this.index.run((index) => index.update(entries));
      this.writtenCount += entries.length;
    } catch (error: unknown) {
      this.options.logger.debug('write-through deferred', { error });
      this.defer(entries);
    }
  }

  /**
   * Writes the pending entries while Redis takes them; concurrent calls share one run.
   * @returns the entries written.
   */
  public flush(): Promise<number> {
    this.flushing ??= this.flushPending().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Resolves once a flush in progress has finished. */
  public async idle(): Promise<void> {
    await this.flushing;
  }

  public get pendingCount(): number {
    return this.pending.size;
  }

  public get written(): number {
    return this.writtenCount;
  }

  private defer(entries: readonly IndexedCustomer[]): void {
    for (const entry of entries) {
      this.pending.delete(entry.customerId);
      this.pending.set(entry.customerId, entry);
    }
    for (const id of this.pending.keys()) {
      if (this.pending.size <= this.options.maxPending) break;
      this.pending.delete(id);
    }
  }

  private async flushPending(): Promise<number> {
    let written = 0;
    while (this.pending.size > 0 && this.index.isReady) {
      const batch = [...this.pending.values()].slice(0, this.options.batchSize);
      try {
        await this.index.run((index) => index.update(batch));
      } catch (error: unknown) {
        this.options.logger.debug('write-through of pending entries postponed', {
          error,
        });
        break;
      }
      // An entry replaced meanwhile by a newer state stays pending.
      for (const entry of batch) {
        if (this.pending.get(entry.customerId) === entry) this.pending.delete(entry.customerId);
      }
      written += batch.length;
      this.writtenCount += batch.length;
    }
    return written;
  }
}
