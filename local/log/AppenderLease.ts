import { readFile } from 'node:fs/promises';
import { errorCode, isProcessAlive, writeFileAtomic } from './durableFiles.js';
import { ConcurrentAppendError } from './errors.js';

interface Lease {
  readonly pid: number;
  readonly renewedAt: number;
  readonly leaseMillis: number;
}

/**
 * Who appends to a partition: a small file holding the appending process's pid and when it last appended.
 * A live process whose lease is fresh may be writing right now, so nobody else appends to the partition or
 * cuts its partial tail; once it exits or stays idle for the lease, another process may take over. Appends
 * renew the lease (at most every quarter lease), so a write never starts on a lease about to lapse.
 */
export class AppenderLease {
  public constructor(
    private readonly path: string,
    private readonly leaseMillis: number,
    private readonly fsync: boolean,
  ) {}

  /** The pid of another live process that may be appending right now, if any. */
  public async activeElsewhere(): Promise<number | undefined> {
    const lease = await this.read();
    if (lease === undefined || lease.pid === process.pid) return undefined;
    if (Date.now() - lease.renewedAt >= lease.leaseMillis) return undefined;
    return isProcessAlive(lease.pid) ? lease.pid : undefined;
  }

  /**
   * Takes or renews the lease before an append.
   * @throws {ConcurrentAppendError} while another live process holds a fresh lease.
   */
  public async acquire(logFile: string): Promise<void> {
    const other = await this.activeElsewhere();
    if (other !== undefined) throw new ConcurrentAppendError(logFile, other);
    const lease = await this.read();
    const now = Date.now();
    if (lease?.pid === process.pid && now - lease.renewedAt < this.leaseMillis / 4) return;
    const renewed: Lease = { pid: process.pid, renewedAt: now, leaseMillis: this.leaseMillis };
    await writeFileAtomic(this.path, `${JSON.stringify(renewed)}\n`, this.fsync);
  }

  private async read(): Promise<Lease | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error: unknown) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null) return undefined;
      if (!('pid' in parsed && 'renewedAt' in parsed && 'leaseMillis' in parsed)) return undefined;
      const { pid, renewedAt, leaseMillis } = parsed;
      if (typeof pid !== 'number' || typeof renewedAt !== 'number' || typeof leaseMillis !== 'number')
        return undefined;
      return { pid, renewedAt, leaseMillis };
    } catch {
      // Written atomically, so unreadable means foreign or damaged: treat the partition as unowned.
      return undefined;
    }
  }
}
