/** A partition the watchdog found stalled, with the records waiting there. */
export interface StalledPartition {
  readonly partition: number;
  readonly records: number;
}

export interface StallWatchdogOptions<Member> {
  /** How long a partition with records waiting may go without a commit while no batch of it is in the handler. */
  readonly stallMillis: number;
  /** How often the check runs. */
  readonly checkMillis: number;
  /** The consumer group member now running, if any. */
  readonly member: () => Member | undefined;
  /** Unconsumed records per partition for the group, read from the cluster. */
  readonly readLag: () => Promise<Record<number, number>>;
}

/**
 * The poller's watchdog. kafkajs can come back from a whole-cluster restart as a member that runs yet no
 * longer fetches some of its partitions (no crash, no error): a partition with records waiting, no batch
 * in the handler and no commit for the stall timeout is reported, so that the member is replaced by a new
 * consumer, which rejoins the group and resumes from the committed offsets.
 *
 * The event source reports what its member does (started, a batch entered or left the handler, a commit);
 * the watchdog keeps that per-partition state and judges it on each check.
 */
export class StallWatchdog<Member> {
  /** Partitions with a batch in the handler now. */
  private readonly busy = new Map<number, number>();
  /** Per partition: when it last committed. */
  private readonly lastCommitAt = new Map<number, number>();
  /** Per partition: since when the check has seen records waiting there. */
  private readonly waitingSince = new Map<number, number>();
  /** When the current member started; no partition counts as quiet from before it. */
  private memberStartedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  public constructor(private readonly options: StallWatchdogOptions<Member>) {}

  public get stallMillis(): number {
    return this.options.stallMillis;
  }

  /** A new member joined: its partitions get a whole stall timeout before any counts as stalled. */
  public memberStarted(): void {
    this.memberStartedAt = Date.now();
  }

  public batchStarted(partition: number): void {
    this.busy.set(partition, (this.busy.get(partition) ?? 0) + 1);
  }

  public batchFinished(partition: number): void {
    this.busy.set(partition, (this.busy.get(partition) ?? 1) - 1);
  }

  public committed(partition: number): void {
    this.lastCommitAt.set(partition, Date.now());
  }

  /**
   * Checks every `checkMillis` until {@link stop} or `signal` aborts; `onStall` gets the member found
   * stalled (still the current one) and its stalled partitions.
   */
  public start(
    signal: AbortSignal,
    onStall: (member: Member, stalled: readonly StalledPartition[]) => void,
  ): void {
    this.timer = setInterval(() => void this.check(signal, onStall), this.options.checkMillis);
    this.timer.unref();
  }

  public stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(
    signal: AbortSignal,
    onStall: (member: Member, stalled: readonly StalledPartition[]) => void,
  ): Promise<void> {
    const current = this.options.member();
    if (this.checking || current === undefined || signal.aborted) return;
    this.checking = true;
    try {
      const { stallMillis } = this.options;
      const now = Date.now();
      if (now - this.memberStartedAt < stallMillis) return;
      const lag = await this.options.readLag().catch(() => undefined);
      if (lag === undefined || signal.aborted || this.options.member() !== current) return;
      const stalled: StalledPartition[] = [];
      for (const [key, records] of Object.entries(lag)) {
        const partition = Number(key);
        if (records === 0 || (this.busy.get(partition) ?? 0) > 0) {
          this.waitingSince.delete(partition);
          continue;
        }
        const since = this.waitingSince.get(partition) ?? now;
        this.waitingSince.set(partition, since);
        const quietSince = Math.max(since, this.lastCommitAt.get(partition) ?? 0, this.memberStartedAt);
        if (now - quietSince >= stallMillis) stalled.push({ partition, records });
      }
      if (stalled.length === 0) return;
      this.waitingSince.clear();
      onStall(current, stalled);
    } finally {
      this.checking = false;
    }
  }
}
