/** A counting semaphore with FIFO hand-over: at most `permits` holders at once. */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];
  private available: number;

  public constructor(permits: number) {
    this.available = permits;
  }

  /** Resolves with the release function once a permit is free. */
  public async acquire(): Promise<() => void> {
    if (this.available > 0) {
      this.available -= 1;
    } else {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next === undefined) this.available += 1;
      else next();
    };
  }
}
