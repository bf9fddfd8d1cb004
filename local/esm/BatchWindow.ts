import { sleep } from './timing.js';

/**
 * Lambda's batching window over fetched batches: a batch smaller than the batch size waits until the window
 * has passed since records were first available, as Lambda gathers records for up to the window.
 */
export class BatchWindow {
  /** Per partition: when a batch smaller than the batch size was first held back for the window. */
  private readonly openedAt = new Map<number, number>();

  public constructor(
    private readonly batchSize: number,
    private readonly windowMillis: number,
    /** While a small batch waits, how long before it is fetched again. */
    private readonly recheckMillis: number,
  ) {}

  /**
   * Waits a little when the batch is to be held back. Returning without resolving any offset makes kafkajs
   * fetch the same records again, with whatever arrived since.
   * @returns true when the batch is held back for now.
   */
  public async holdBack(partition: number, available: number, signal: AbortSignal): Promise<boolean> {
    if (this.windowMillis === 0 || available >= this.batchSize) {
      this.openedAt.delete(partition);
      return false;
    }
    const now = Date.now();
    const openedAt = this.openedAt.get(partition) ?? now;
    this.openedAt.set(partition, openedAt);
    const remaining = openedAt + this.windowMillis - now;
    if (remaining <= 0) {
      this.openedAt.delete(partition);
      return false;
    }
    await sleep(Math.min(remaining, this.recheckMillis), signal);
    return true;
  }
}
