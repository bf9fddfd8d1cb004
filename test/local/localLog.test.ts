import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Partitioners } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConcurrentAppendError,
  InvalidLogRequestError,
  LocalLog,
  PartitionShrinkRefusedError,
  UnknownTopicError,
} from '../../local/log/index.js';

const APPEND_IN_CHILD = fileURLToPath(new URL('./fixtures/appendInChild.ts', import.meta.url));

let dir: string;
const children = new Set<ChildProcess>();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-log-'));
});

afterEach(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  await rm(dir, { recursive: true, force: true });
});

const text = (value: Buffer | null) => value?.toString('utf8') ?? null;

function runChild(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', APPEND_IN_CHILD, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

describe('LocalLog topics', () => {
  it('creates topics idempotently, grows them and refuses to shrink them', async () => {
    // Prepare
    const log = await LocalLog.open(dir);

    // Act
    await log.createTopic('orders', 2);
    await log.createTopic('orders', 2);
    await log.createTopic('orders', 4);
    await log.createTopic('audit', 1);

    // Assess
    expect(await log.topics()).toEqual(['audit', 'orders']);
    expect(await log.partitionsOf('orders')).toBe(4);
    await expect(log.createTopic('orders', 3)).rejects.toBeInstanceOf(PartitionShrinkRefusedError);
    await expect(log.createTopic('bad/name', 1)).rejects.toBeInstanceOf(InvalidLogRequestError);
    await expect(log.partitionsOf('missing')).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(log.append('orders', [{ value: 'x', partition: 4 }])).rejects.toBeInstanceOf(
      InvalidLogRequestError,
    );
  });
});

describe('LocalLog records', () => {
  it('round-trips keys, null values, headers and timestamps', async () => {
    // Prepare
    const log = await LocalLog.open(dir);
    await log.createTopic('t', 1);

    // Act
    const placed = await log.append('t', [
      {
        key: 'k1',
        value: '{"a":1}',
        headers: { trace: 'abc', raw: Buffer.from([0, 255]) },
        timestamp: 1_000,
      },
      { key: null, value: null, timestamp: 2_000 },
      { key: Buffer.from([1, 2, 3]), value: Buffer.from('line\nbreak'), timestamp: 3_000 },
    ]);
    const records = await log.read('t', 0, 0, 10);

    // Assess
    expect(placed).toEqual([
      { partition: 0, offset: 0 },
      { partition: 0, offset: 1 },
      { partition: 0, offset: 2 },
    ]);
    expect(records.map((r) => [r.offset, r.timestamp, text(r.key), text(r.value)])).toEqual([
      [0, 1_000, 'k1', '{"a":1}'],
      [1, 2_000, null, null],
      [2, 3_000, '\u0001\u0002\u0003', 'line\nbreak'],
    ]);
    expect(records[0]?.headers).toEqual({ trace: Buffer.from('abc'), raw: Buffer.from([0, 255]) });
    expect(await log.read('t', 0, 1, 1)).toHaveLength(1);
    expect(await log.read('t', 0, 3, 10)).toEqual([]);
    await expect(log.read('t', 0, 4, 10)).rejects.toBeInstanceOf(InvalidLogRequestError);
  });

  it('keeps records and committed offsets across a re-open', async () => {
    // Prepare
    const first = await LocalLog.open(dir);
    await first.createTopic('t', 2);
    await first.append('t', [
      { value: 'a', partition: 0 },
      { value: 'b', partition: 0 },
      { value: 'c', partition: 1 },
    ]);
    await first.commit('g', 't', 0, 1);

    // Act
    const reopened = await LocalLog.open(dir);

    // Assess
    expect((await reopened.read('t', 0, 0, 10)).map((r) => text(r.value))).toEqual(['a', 'b']);
    expect(await reopened.endOffset('t', 1)).toBe(1);
    expect(await reopened.committed('g', 't', 0)).toBe(1);
    expect(await reopened.committed('g', 't', 1)).toBe(0);
    expect(await reopened.lag('g', 't')).toEqual({ 0: 1, 1: 1 });
  });

  it('truncates a torn trailing record on open and continues at the next offset', async () => {
    // Prepare
    const log = await LocalLog.open(dir);
    await log.createTopic('t', 1);
    await log.append('t', [{ value: 'r0' }, { value: 'r1' }, { value: 'r2' }]);
    const file = join(dir, 'topics', 't', '0.log');
    const intactSize = (await stat(file)).size;
    await appendFile(file, '{"offset":3,"timestamp":17000000,"key":null,"val');

    // Act
    const reopened = await LocalLog.open(dir);
    const sizeAfterOpen = (await stat(file)).size;
    const appended = await reopened.append('t', [{ value: 'r3' }]);

    // Assess
    expect(sizeAfterOpen).toBe(intactSize);
    expect(appended).toEqual([{ partition: 0, offset: 3 }]);
    expect((await reopened.read('t', 0, 0, 10)).map((r) => text(r.value))).toEqual(['r0', 'r1', 'r2', 'r3']);
    const lines = (await readFile(file, 'utf8')).split('\n');
    expect(lines.slice(0, 4).map((line) => JSON.parse(line).offset)).toEqual([0, 1, 2, 3]);
    expect(lines[4]).toBe('');
  });

  it('never returns a partially written record to a reader', async () => {
    // Prepare
    const writer = await LocalLog.open(dir);
    await writer.createTopic('t', 1);
    await writer.append('t', [{ value: 'whole' }]);
    const reader = await LocalLog.open(dir);
    await appendFile(
      join(dir, 'topics', 't', '0.log'),
      '{"offset":1,"timestamp":1,"key":null,"value":"aGFsZ',
    );

    // Act
    const records = await reader.read('t', 0, 0, 10);
    const end = await reader.endOffset('t', 0);

    // Assess
    expect(records.map((r) => text(r.value))).toEqual(['whole']);
    expect(end).toBe(1);
  });

  it('finds the first offset whose timestamp is at or after a given time', async () => {
    // Prepare
    const log = await LocalLog.open(dir);
    await log.createTopic('t', 1);
    await log.append(
      't',
      [1_000, 2_000, 3_000, 2_500].map((timestamp) => ({ value: String(timestamp), timestamp })),
    );

    // Act
    const seeks = await Promise.all(
      [500, 2_000, 2_001, 2_500, 3_000, 4_000].map((t) => log.seekByTimestamp('t', 0, t)),
    );

    // Assess
    expect(seeks).toEqual([0, 1, 2, 2, 2, 4]);
  });
});

describe('LocalLog partitioning', () => {
  it('places keyed messages on the partition kafkajs DefaultPartitioner picks for the same count', async () => {
    // Prepare
    const log = await LocalLog.open(dir);
    await log.createTopic('customers', 6);
    const keys = Array.from({ length: 40 }, (_, i) => `customer-${i}`);
    const kafkajs = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 1,
      replicas: [1],
      isr: [1],
    }));
    const expected = keys.map((key) =>
      kafkajs({ topic: 'customers', partitionMetadata, message: { key, value: 'v' } }),
    );

    // Act
    const placed = await log.append(
      'customers',
      keys.map((key) => ({ key, value: 'v' })),
    );

    // Assess
    expect(placed.map((p) => p.partition)).toEqual(expected);
    expect(new Set(expected).size).toBeGreaterThan(1);
  });

  it('spreads keyless messages round robin over the partitions', async () => {
    // Prepare
    const log = await LocalLog.open(dir);
    await log.createTopic('t', 3);

    // Act
    const placed = await log.append(
      't',
      Array.from({ length: 9 }, () => ({ value: 'v' })),
    );

    // Assess
    const perPartition = [0, 1, 2].map((p) => placed.filter((r) => r.partition === p).length);
    expect(perPartition).toEqual([3, 3, 3]);
  });
});

describe('LocalLog consumer offsets', () => {
  it('commits offsets atomically, defaults to the earliest and refuses offsets past the end', async () => {
    // Prepare
    const log = await LocalLog.open(dir);
    await log.createTopic('t', 1);
    await log.append(
      't',
      Array.from({ length: 100 }, (_, i) => ({ value: String(i) })),
    );
    const reader = await LocalLog.open(dir);
    const seen: number[] = [];
    let committing = true;
    const readLoop = (async () => {
      while (committing) seen.push(await reader.committed('g', 't', 0));
    })();

    // Act
    const before = await log.committed('g', 't', 0);
    for (let offset = 1; offset <= 100; offset += 1) await log.commit('g', 't', 0, offset);
    committing = false;
    await readLoop;

    // Assess
    expect(before).toBe(0);
    expect(await reader.committed('g', 't', 0)).toBe(100);
    expect(seen.every((offset) => Number.isInteger(offset) && offset >= 0 && offset <= 100)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const groupDir = join(dir, 'groups', 'g-g', 't');
    expect((await readdir(groupDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    await expect(log.commit('g', 't', 0, 101)).rejects.toBeInstanceOf(InvalidLogRequestError);
  });

  it('ignores a temporary offset file left by a crash mid-commit', async () => {
    // Prepare
    const log = await LocalLog.open(dir);
    await log.createTopic('t', 1);
    await log.append('t', [{ value: 'a' }, { value: 'b' }]);
    await log.commit('g', 't', 0, 1);
    await writeFile(join(dir, 'groups', 'g-g', 't', '0.offset.99999.1.tmp'), '{"offs');

    // Act
    const committed = await (await LocalLog.open(dir)).committed('g', 't', 0);

    // Assess
    expect(committed).toBe(1);
  });
});

describe('LocalLog across instances and processes', () => {
  it('serializes appends from two instances in one process and shows each its peer records', async () => {
    // Prepare
    const a = await LocalLog.open(dir);
    await a.createTopic('t', 1);
    const b = await LocalLog.open(dir);

    // Act
    const placed = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 === 0 ? a : b).append('t', [{ value: `m${i}` }, { value: `n${i}` }]),
      ),
    );
    const fromA = await a.read('t', 0, 0, 1_000);
    const fromB = await b.read('t', 0, 0, 1_000);

    // Assess
    expect(
      placed
        .flat()
        .map((p) => p.offset)
        .sort((x, y) => x - y),
    ).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(fromA.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(fromB.map((r) => text(r.value))).toEqual(fromA.map((r) => text(r.value)));
    for (const pair of placed) expect(pair[1]?.offset).toBe((pair[0]?.offset ?? -1) + 1);
  });

  it('reads, in order and whole, the records a child process appends while it runs', async () => {
    // Prepare
    const log = await LocalLog.open(dir, { fsync: false });
    await log.createTopic('t', 1);
    const child = runChild([dir, 't', '200', '1', '512']);
    const received: number[] = [];

    // Act
    while (received.length < 200) {
      const records = await log.read('t', 0, received.length, 50);
      for (const record of records) received.push(JSON.parse(text(record.value) ?? '{}').seq);
      if (records.length > 0) continue;
      if (child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const code = await exited(child);

    // Assess
    expect(code).toBe(0);
    expect(received).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('lets another process append once the previous appender has idled past its lease', async () => {
    // Prepare
    const log = await LocalLog.open(dir, { fsync: false, appenderLeaseMillis: 200 });
    await log.createTopic('t', 1);
    await log.append('t', [{ value: 'from parent' }]);
    await new Promise((resolve) => setTimeout(resolve, 250));

    // Act
    const code = await exited(runChild([dir, 't', '5', '0', '8']));
    const afterChild = await log.append('t', [{ value: 'parent again' }]);

    // Assess
    expect(code).toBe(0);
    expect(afterChild).toEqual([{ partition: 0, offset: 6 }]);
    expect((await log.read('t', 0, 0, 10)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('recovers the log of an appender killed with SIGKILL and refuses a second live appender', async () => {
    // Prepare
    const log = await LocalLog.open(dir, { fsync: false });
    await log.createTopic('t', 1);
    const child = runChild([dir, 't', '0', '0', '4096']);
    while ((await log.endOffset('t', 0)) < 50 && child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await expect(log.append('t', [{ value: 'while child appends' }])).rejects.toBeInstanceOf(
      ConcurrentAppendError,
    );

    // Act
    child.kill('SIGKILL');
    await exited(child);
    const reopened = await LocalLog.open(dir, { fsync: false });
    const end = await reopened.endOffset('t', 0);
    const appended = await reopened.append('t', [{ value: 'after the crash' }]);

    // Assess
    const records = await reopened.read('t', 0, 0, end + 1);
    expect(records.slice(0, end).map((r) => JSON.parse(text(r.value) ?? '{}').seq)).toEqual(
      Array.from({ length: end }, (_, i) => i),
    );
    expect(appended).toEqual([{ partition: 0, offset: end }]);
    expect(text(records[end]?.value ?? null)).toBe('after the crash');
  });
});

describe('LocalLog under concurrent use of one instance', () => {
  it('keeps its index whole when reads and appends of one partition interleave', async () => {
    const log = await LocalLog.open(dir, { fsync: false });
    await log.createTopic('busy', 1);

    let appending = true;
    const readers = Array.from({ length: 4 }, async () => {
      while (appending) await log.read('busy', 0, 0, 10_000);
    });
    for (let i = 0; i < 40; i++) {
      await log.append(
        'busy',
        Array.from({ length: 25 }, (_, j) => ({ value: `v${i}-${j}`, partition: 0 })),
      );
    }
    appending = false;
    await Promise.all(readers);

    const all = await log.read('busy', 0, 0, 10_000);
    expect(await log.endOffset('busy', 0)).toBe(1_000);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(new Set(all.map((r) => text(r.value))).size).toBe(1_000);
  });
});
