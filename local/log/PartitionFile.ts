import { open, stat, truncate } from 'node:fs/promises';
import { AppenderLease } from './AppenderLease.js';
import { errorCode } from './durableFiles.js';
import { CorruptLogError, InvalidLogRequestError } from './errors.js';
import {
  decodeRecord,
  encodeRecord,
  type LogRecord,
  type PendingRecord,
  RECORD_SEPARATOR,
} from './recordFormat.js';

const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * One partition's append-only file, seen by one LocalLog instance. The index (the byte position of every
 * complete record) lives in memory and is extended from the file's tail on every call, so records appended
 * by other instances or processes show up. Bytes after the last newline are a record still being written,
 * or torn by a crash: they are never indexed, hence never read.
 *
 * `append` must run under the partition's process-wide lock (see keyedLock.ts).
 */
export class PartitionFile {
  private readonly positions: number[] = [];
  /** Byte just after the last complete record. */
  private indexedBytes = 0;
  /** File size at the last refresh; above `indexedBytes` when a partial record follows. */
  private seenBytes = 0;
  private readonly lease: AppenderLease;

  public constructor(
    public readonly path: string,
    private readonly fsync: boolean,
    appenderLeaseMillis: number,
  ) {
    this.lease = new AppenderLease(path.replace(/\.log$/, '.appender'), appenderLeaseMillis, fsync);
  }

  /** Next offset to be written, as of the last refresh. */
  private queue: Promise<unknown> = Promise.resolve();

  public get nextOffset(): number {
    return this.positions.length;
  }

  /**
   * Indexes the complete records appended since the last call.
   * @throws {CorruptLogError} when the file lost bytes that held complete records.
   */
  public refresh(): Promise<void> {
    return this.serially(() => this.refreshIndex());
  }

  /**
   * Runs index updates (refresh, append, repair) one at a time: a refresh running beside an append would
   * index the append's lines while they are being written, and the append would then index them again.
   */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async refreshIndex(): Promise<void> {
    const size = await sizeOf(this.path);
    if (size < this.indexedBytes) {
      throw new CorruptLogError(
        `File shrank to ${size} bytes, below its last record at ${this.indexedBytes}`,
        this.path,
      );
    }
    this.seenBytes = size;
    if (size === this.indexedBytes) return;
    const handle = await open(this.path, 'r');
    try {
      const buffer = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, size - this.indexedBytes));
      let lineStart = this.indexedBytes;
      let position = this.indexedBytes;
      while (position < size) {
        const { bytesRead } = await handle.read(
          buffer,
          0,
          Math.min(buffer.length, size - position),
          position,
        );
        if (bytesRead === 0) break;
        for (
          let i = buffer.indexOf(RECORD_SEPARATOR);
          i !== -1 && i < bytesRead;
          i = buffer.indexOf(RECORD_SEPARATOR, i + 1)
        ) {
          this.positions.push(lineStart);
          lineStart = position + i + 1;
        }
        position += bytesRead;
      }
      this.indexedBytes = lineStart;
    } finally {
      await handle.close();
    }
  }

  /**
   * Up to `maxRecords` records from `fromOffset`, in offset order.
   * @throws {InvalidLogRequestError} when `fromOffset` is past the end of the partition.
   * @throws {CorruptLogError} when a complete record cannot be decoded.
   */
  public async read(fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    await this.refresh();
    const end = this.nextOffset;
    if (fromOffset > end) {
      throw new InvalidLogRequestError(`Offset ${fromOffset} is past the end of the partition (${end})`, {
        file: this.path,
        fromOffset,
        endOffset: end,
      });
    }
    const to = Math.min(end, fromOffset + maxRecords);
    if (to <= fromOffset) return [];
    const start = this.positionOf(fromOffset);
    const stop = to === end ? this.indexedBytes : this.positionOf(to);
    const bytes = Buffer.allocUnsafe(stop - start);
    const handle = await open(this.path, 'r');
    try {
      let filled = 0;
      while (filled < bytes.length) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, start + filled);
        if (bytesRead === 0)
          throw new CorruptLogError(`Unexpected end of file at byte ${start + filled}`, this.path);
        filled += bytesRead;
      }
    } finally {
      await handle.close();
    }
    const lines = bytes.toString('utf8').split('\n');
    return lines.slice(0, to - fromOffset).map((line, i) => decodeRecord(line, fromOffset + i, this.path));
  }

  /**
   * Appends the records as consecutive offsets with one write, and returns the first offset.
   * @throws {ConcurrentAppendError} while another live process holds the partition's appender lease.
   */
  public append(records: readonly PendingRecord[]): Promise<number> {
    return this.serially(() => this.appendIndexed(records));
  }

  private async appendIndexed(records: readonly PendingRecord[]): Promise<number> {
    await this.lease.acquire(this.path);
    await this.refreshIndex();
    // Under the lock and the lease, a partial tail can only be a write cut short by a crash.
    if (this.seenBytes > this.indexedBytes) await this.truncateTail();
    const first = this.nextOffset;
    const lines = records.map((record, i) => encodeRecord(first + i, record));
    const buffer = Buffer.from(lines.join(''), 'utf8');
    const handle = await open(this.path, 'a');
    try {
      await handle.writeFile(buffer);
      if (this.fsync) await handle.datasync();
      const { size } = await handle.stat();
      if (size !== this.indexedBytes + buffer.length) {
        throw new CorruptLogError('Another writer appended to the partition at the same time', this.path);
      }
    } finally {
      await handle.close();
    }
    let position = this.indexedBytes;
    for (const line of lines) {
      this.positions.push(position);
      position += Buffer.byteLength(line, 'utf8');
    }
    this.indexedBytes = position;
    this.seenBytes = position;
    return first;
  }

  /**
   * Cuts a torn trailing record left by a crashed writer. While another live process holds the appender
   * lease, a partial tail may be its write in progress: it is left alone (readers skip it anyway).
   * @returns whether bytes were removed.
   */
  public repairTornTail(): Promise<boolean> {
    return this.serially(() => this.repairIndexedTail());
  }

  private async repairIndexedTail(): Promise<boolean> {
    await this.refreshIndex();
    if (this.seenBytes <= this.indexedBytes) return false;
    if ((await this.lease.activeElsewhere()) !== undefined) return false;
    await this.truncateTail();
    return true;
  }

  private async truncateTail(): Promise<void> {
    await truncate(this.path, this.indexedBytes);
    this.seenBytes = this.indexedBytes;
    if (!this.fsync) return;
    const handle = await open(this.path, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private positionOf(offset: number): number {
    const position = this.positions[offset];
    if (position === undefined) throw new CorruptLogError(`No index entry for offset ${offset}`, this.path);
    return position;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error: unknown) {
    if (errorCode(error) === 'ENOENT') return 0;
    throw error;
  }
}
