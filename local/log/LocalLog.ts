// Over 300 lines on purpose: the log's public face (topics, append, read, offsets, lag, seek) over one shared
// per-partition file map; the file format and appends live in PartitionFile.
import { mkdir, open, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidLogRequestError, PartitionShrinkRefusedError, UnknownTopicError } from './errors.js';
import { offsetPathOf, readCommittedOffset, writeCommittedOffset } from './groupOffsets.js';
import { withKeyedLock } from './keyedLock.js';
import { PartitionFile } from './PartitionFile.js';
import { createKafkaPartitioner, type KeyPartitioner } from './partitioner.js';
import type { LogRecord, PendingRecord } from './recordFormat.js';
import {
  isValidTopicName,
  readTopicMetadata,
  type TopicMetadata,
  writeTopicMetadata,
} from './topicMetadata.js';

export interface LocalLogOptions {
  /**
   * fsync every append, truncation and offset commit (default true). Without it, data still survives the
   * process being killed (it is in the page cache), but not a machine crash.
   */
  readonly fsync?: boolean;
  /**
   * How long after its last append a live process keeps a partition to itself (default 2,000 ms): other
   * processes may append to it only once that process has exited or stayed idle this long.
   */
  readonly appenderLeaseMillis?: number;
}

const DEFAULT_APPENDER_LEASE_MILLIS = 2_000;

/** A message to append, shaped like a kafkajs producer message. */
export interface AppendMessage {
  readonly key?: string | Buffer | null;
  readonly value: string | Buffer | null;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  /** Milliseconds since the epoch; defaults to the time of the append. */
  readonly timestamp?: number;
  /** Explicit partition; otherwise chosen from the key like Kafka's default partitioner. */
  readonly partition?: number;
}

export interface AppendResult {
  readonly partition: number;
  readonly offset: number;
}

const SEEK_CHUNK = 1000;

/**
 * A durable, file-based stand-in for Kafka: topics of partitions, each an append-only file of
 * newline-delimited JSON records, plus consumer-group offsets. Layout under `dir`:
 *
 * - `topics/<topic>/topic.json` — `{ name, partitions }`, replaced atomically;
 * - `topics/<topic>/<partition>.log` — one JSON record per line, offsets consecutive from 0;
 * - `topics/<topic>/<partition>.appender` — lease of the process appending to the partition (pid, time);
 * - `groups/<encoded group>/<topic>/<partition>.offset` — `{ offset }`: the next offset to consume.
 *
 * Any number of processes may read and commit. Appends to one partition must not come from two processes at
 * once: a process appending while another live process appended within the lease gets a
 * ConcurrentAppendError (retriable). Within a process, instances on the same directory serialize their
 * appends per partition.
 */
export class LocalLog {
  private readonly files = new Map<string, PartitionFile>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly partitioner: KeyPartitioner = createKafkaPartitioner();

  private constructor(
    public readonly dir: string,
    private readonly fsync: boolean,
    private readonly appenderLeaseMillis: number,
  ) {}

  /**
   * Opens (creating if needed) the log in `dir` and cuts records torn by a crashed writer.
   * @throws {CorruptLogError} when a partition file lost complete records.
   */
  public static async open(dir: string, options: LocalLogOptions = {}): Promise<LocalLog> {
    const log = new LocalLog(
      resolve(dir),
      options.fsync ?? true,
      options.appenderLeaseMillis ?? DEFAULT_APPENDER_LEASE_MILLIS,
    );
    await mkdir(join(log.dir, 'topics'), { recursive: true });
    await mkdir(join(log.dir, 'groups'), { recursive: true });
    for (const topic of await log.topics()) {
      const partitions = await log.partitionsOf(topic);
      for (let partition = 0; partition < partitions; partition += 1) {
        const file = log.fileOf(topic, partition);
        await withKeyedLock(file.path, () => file.repairTornTail());
      }
    }
    return log;
  }

  /**
   * Creates the topic, or grows it to `partitions`; asking for its current count is a no-op.
   * @throws {PartitionShrinkRefusedError} when the topic already has more partitions.
   * @throws {InvalidLogRequestError} for an invalid name or partition count.
   */
  public async createTopic(name: string, partitions: number): Promise<void> {
    if (!isValidTopicName(name)) {
      throw new InvalidLogRequestError(`Invalid topic name "${name}": use 1-249 of [a-zA-Z0-9._-]`, {
        topic: name,
      });
    }
    if (!Number.isSafeInteger(partitions) || partitions < 1) {
      const message = `A topic needs a positive whole number of partitions, got ${partitions}`;
      throw new InvalidLogRequestError(message, { topic: name, partitions });
    }
    const directory = this.topicDir(name);
    await withKeyedLock(directory, async () => {
      const current = (await this.readMetadata(name))?.partitions ?? 0;
      if (current > partitions) throw new PartitionShrinkRefusedError(name, current, partitions);
      if (current === partitions) return;
      await mkdir(directory, { recursive: true });
      for (let partition = current; partition < partitions; partition += 1) {
        await (await open(this.fileOf(name, partition).path, 'a')).close();
      }
      await writeTopicMetadata(directory, { name, partitions }, this.fsync);
      this.partitionCounts.set(name, partitions);
    });
  }

  /** The topics of this log, sorted by name. */
  public async topics(): Promise<string[]> {
    const entries = await readdir(join(this.dir, 'topics'), { withFileTypes: true });
    const names: string[] = [];
    for (const entry of entries) {
      if (entry.isDirectory() && (await this.readMetadata(entry.name)) !== undefined) names.push(entry.name);
    }
    return names.sort();
  }

  /**
   * The topic's current partition count (re-read, so growth by another process is seen).
   * @throws {UnknownTopicError} when the topic does not exist.
   */
  public async partitionsOf(topic: string): Promise<number> {
    const metadata = await this.readMetadata(topic);
    if (metadata === undefined) throw new UnknownTopicError(topic);
    this.partitionCounts.set(topic, metadata.partitions);
    return metadata.partitions;
  }

  /**
   * Appends messages and returns where each landed, in input order. A message goes to its explicit
   * partition, else to kafkajs's murmur2 choice for its key, else round robin.
   * @throws {UnknownTopicError} when the topic does not exist.
   * @throws {InvalidLogRequestError} for an explicit partition out of range or an invalid timestamp.
   * @throws {ConcurrentAppendError} when another live process appended to the partition within the lease.
   */
  public async append(topic: string, messages: readonly AppendMessage[]): Promise<AppendResult[]> {
    if (messages.length === 0) return [];
    const partitions = await this.partitionsOf(topic);
    const now = Date.now();
    const byPartition = new Map<number, Array<{ index: number; record: PendingRecord }>>();
    messages.forEach((message, index) => {
      const record = toPendingRecord(message, now, topic);
      const partition = message.partition ?? this.partitioner(topic, partitions, record.key);
      if (!Number.isSafeInteger(partition) || partition < 0 || partition >= partitions) {
        throw new InvalidLogRequestError(`Topic "${topic}" has no partition ${partition}`, {
          topic,
          partition,
        });
      }
      const group = byPartition.get(partition) ?? [];
      group.push({ index, record });
      byPartition.set(partition, group);
    });

    const results: AppendResult[] = new Array(messages.length);
    for (const [partition, group] of byPartition) {
      const file = this.fileOf(topic, partition);
      const first = await withKeyedLock(file.path, () => file.append(group.map((g) => g.record)));
      group.forEach((g, i) => {
        results[g.index] = { partition, offset: first + i };
      });
    }
    return results;
  }

  /**
   * Up to `maxRecords` consecutive records from `fromOffset` (inclusive), in offset order; fewer (or none)
   * when the partition ends sooner. Never returns a record still being written.
   * @throws {InvalidLogRequestError} when the partition does not exist or `fromOffset` is past its end.
   */
  public async read(
    topic: string,
    partition: number,
    fromOffset: number,
    maxRecords: number,
  ): Promise<LogRecord[]> {
    await this.requirePartition(topic, partition);
    requireOffset(fromOffset, 'fromOffset');
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
      throw new InvalidLogRequestError(`maxRecords must be a positive integer, got ${maxRecords}`, {
        maxRecords,
      });
    }
    return this.fileOf(topic, partition).read(fromOffset, maxRecords);
  }

  /** The next offset to be written to the partition (its high watermark). */
  public async endOffset(topic: string, partition: number): Promise<number> {
    await this.requirePartition(topic, partition);
    const file = this.fileOf(topic, partition);
    await file.refresh();
    return file.nextOffset;
  }

  /**
   * The group's next offset to consume on the partition; 0 (the earliest) when it never committed.
   * @throws {CorruptLogError} when the offset file is unreadable.
   */
  public async committed(group: string, topic: string, partition: number): Promise<number> {
    await this.requirePartition(topic, partition);
    return readCommittedOffset(offsetPathOf(this.dir, group, topic, partition));
  }

  /**
   * Records `nextOffset` as the group's position on the partition, atomically (temporary file, fsync,
   * rename): a crash leaves the previous or the new offset, never a torn one. Moving backwards is allowed
   * (that is how a replay starts).
   * @throws {InvalidLogRequestError} when `nextOffset` is negative or past the end of the partition.
   */
  public async commit(group: string, topic: string, partition: number, nextOffset: number): Promise<void> {
    requireOffset(nextOffset, 'nextOffset');
    const end = await this.endOffset(topic, partition);
    if (nextOffset > end) {
      const message = `Cannot commit offset ${nextOffset}: partition ${topic}-${partition} ends at ${end}`;
      throw new InvalidLogRequestError(message, { group, topic, partition, nextOffset, endOffset: end });
    }
    const path = offsetPathOf(this.dir, group, topic, partition);
    await writeCommittedOffset(path, { group, topic, partition, offset: nextOffset }, this.fsync);
  }

  /** Records the group has yet to consume, per partition of the topic. */
  public async lag(group: string, topic: string): Promise<Record<number, number>> {
    const partitions = await this.partitionsOf(topic);
    const lag: Record<number, number> = {};
    for (let partition = 0; partition < partitions; partition += 1) {
      lag[partition] =
        (await this.endOffset(topic, partition)) - (await this.committed(group, topic, partition));
    }
    return lag;
  }

  /**
   * The first offset whose timestamp is at or after `timestamp`, scanning from the start (timestamps are
   * the producers' and need not be monotonic); the end offset when there is none, as kafkajs does.
   */
  public async seekByTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    const end = await this.endOffset(topic, partition);
    for (let offset = 0; offset < end; offset += SEEK_CHUNK) {
      const found = (await this.read(topic, partition, offset, SEEK_CHUNK)).find(
        (r) => r.timestamp >= timestamp,
      );
      if (found !== undefined) return found.offset;
    }
    return end;
  }

  private async requirePartition(topic: string, partition: number): Promise<void> {
    if (!Number.isSafeInteger(partition) || partition < 0) {
      throw new InvalidLogRequestError(`Invalid partition ${partition}`, { topic, partition });
    }
    const known = this.partitionCounts.get(topic);
    const count = known !== undefined && partition < known ? known : await this.partitionsOf(topic);
    if (partition >= count) {
      throw new InvalidLogRequestError(`Topic "${topic}" has no partition ${partition}`, {
        topic,
        partition,
      });
    }
  }

  private async readMetadata(topic: string): Promise<TopicMetadata | undefined> {
    return isValidTopicName(topic) ? readTopicMetadata(this.topicDir(topic), topic) : undefined;
  }

  private fileOf(topic: string, partition: number): PartitionFile {
    const key = `${topic}/${partition}`;
    let file = this.files.get(key);
    if (file === undefined) {
      file = new PartitionFile(
        join(this.topicDir(topic), `${partition}.log`),
        this.fsync,
        this.appenderLeaseMillis,
      );
      this.files.set(key, file);
    }
    return file;
  }

  private topicDir(topic: string): string {
    return join(this.dir, 'topics', topic);
  }
}

function requireOffset(offset: number, name: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new InvalidLogRequestError(`${name} must be a non-negative integer, got ${offset}`, {
      [name]: offset,
    });
  }
}

const toBuffer = (value: string | Buffer): Buffer =>
  typeof value === 'string' ? Buffer.from(value, 'utf8') : value;

function toPendingRecord(message: AppendMessage, now: number, topic: string): PendingRecord {
  const timestamp = message.timestamp ?? now;
  if (!Number.isFinite(timestamp) || timestamp < 0) {
    throw new InvalidLogRequestError(`Invalid timestamp ${timestamp}`, { topic, timestamp });
  }
  const headers: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = toBuffer(value);
  return {
    timestamp: Math.trunc(timestamp),
    key: message.key === undefined || message.key === null ? null : toBuffer(message.key),
    value: message.value === null ? null : toBuffer(message.value),
    headers,
  };
}
