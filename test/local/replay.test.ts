import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEventLog } from '../../lambdas/shared/replay/LocalEventLog.js';
import { boundedRanges, mergeRanges } from '../../lambdas/shared/replay/offsetRanges.js';
import { REPLAYED_FROM_HEADER, replayTimeRange } from '../../lambdas/shared/replay/replayRecords.js';
import { LOCAL_RETRY_TOPIC, LOCAL_TOPIC } from '../../local/consumer/LocalConsumer.js';
import { LocalLog } from '../../local/log/index.js';

const T0 = Date.UTC(2026, 0, 1);
const PARTITIONS = 3;

function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/replay.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `npm run replay` arguments that copy offsets `from` to `to` of one partition of the log in `logDir`. */
function offsetRangeArgs(logDir: string, partition: number, from: number, to: number): string[] {
  return [
    '--log-dir',
    logDir,
    '--partition',
    String(partition),
    '--from-offset',
    String(from),
    '--to-offset',
    String(to),
  ];
}

async function retryRecords(log: LocalLog) {
  const records = [];
  for (let p = 0; p < PARTITIONS; p += 1) {
    const end = await log.endOffset(LOCAL_RETRY_TOPIC, p);
    if (end > 0) records.push(...(await log.read(LOCAL_RETRY_TOPIC, p, 0, end)));
  }
  return records.map((r) => ({
    value: r.value?.toString(),
    from: r.headers[REPLAYED_FROM_HEADER]?.toString(),
    key: r.key?.toString(),
  }));
}

describe('replay on the local log', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdp-replay-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Ten records per partition, one minute apart from T0, partition chosen explicitly. */
  async function seededLog(name: string): Promise<LocalLog> {
    const log = await LocalLog.open(join(dir, name));
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    await log.createTopic(LOCAL_RETRY_TOPIC, PARTITIONS);
    for (let p = 0; p < PARTITIONS; p += 1) {
      await log.append(
        LOCAL_TOPIC,
        Array.from({ length: 10 }, (_, i) => ({
          key: `k${p}`,
          value: `p${p}-o${i}`,
          timestamp: T0 + i * 60_000,
          partition: p,
          headers: { trace: 'abc' },
        })),
      );
    }
    return log;
  }

  it('re-delivers a time range of every partition with its records unchanged and their origin', async () => {
    // Prepare
    const log = await seededLog('shared');
    const eventLog = new LocalEventLog(log, 3);

    // Act: minutes 4 to 6 (7 excluded).
    const summary = await replayTimeRange(
      { reader: eventLog, writer: eventLog, topic: LOCAL_TOPIC, targetTopic: LOCAL_RETRY_TOPIC },
      T0 + 4 * 60_000,
      T0 + 7 * 60_000,
    );

    // Assess
    expect(summary.replayed).toBe(9);
    expect(summary.ranges).toEqual([0, 1, 2].map((partition) => ({ partition, fromOffset: 4, toOffset: 6 })));
    const copies = await retryRecords(log);
    expect(copies.map((c) => c.value).sort()).toEqual(
      [0, 1, 2].flatMap((p) => [4, 5, 6].map((o) => `p${p}-o${o}`)).sort(),
    );
    expect(copies.find((c) => c.value === 'p1-o5')).toEqual({
      value: 'p1-o5',
      from: `${LOCAL_TOPIC}/1/5`,
      key: 'k1',
    });
    const [first] = await log.read(LOCAL_RETRY_TOPIC, 0, 0, 1);
    expect(first?.headers.trace?.toString()).toBe('abc');
  });

  it('npm run replay copies an offset range and prints a summary', async () => {
    const log = await seededLog('cli-offsets');

    const run = await runCli(offsetRangeArgs(log.dir, 2, 3, 5));

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('partition 2: up to offset 5, 3 records copied');
    expect(run.stdout).toMatch(
      /replayed 3 records from customer-events\.v1 to customer-events\.v1\.retry \(ranges 2:3-5\)/,
    );
    expect((await retryRecords(log)).map((c) => c.from)).toEqual(
      [3, 4, 5].map((o) => `${LOCAL_TOPIC}/2/${o}`),
    );
  });

  it('npm run replay copies a time range', async () => {
    const log = await seededLog('cli-time');

    const run = await runCli([
      '--log-dir',
      log.dir,
      '--from',
      new Date(T0 + 8 * 60_000).toISOString(),
      '--to',
      new Date(T0 + 60 * 60_000).toISOString(),
    ]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('replayed 6 records');
    expect((await retryRecords(log)).map((c) => c.value).sort()).toEqual([
      'p0-o8',
      'p0-o9',
      'p1-o8',
      'p1-o9',
      'p2-o8',
      'p2-o9',
    ]);
  });

  it.each([
    [['--partition', '0', '--from-offset', '0', '--to-offset', '1'], '--log-dir is required'],
    [['--log-dir', 'x', '--from', '2026-01-01T00:00:00Z'], 'a time range needs both from and to'],
    [
      ['--log-dir', 'x', '--partition', 'one', '--from-offset', '0', '--to-offset', '1'],
      '--partition must be a whole number',
    ],
    [['--log-dir', 'x', '--bogus'], "Unknown option '--bogus'"],
  ])('npm run replay %j fails with a usage error', async (args, message) => {
    const run = await runCli(args);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('usage: npm run replay');
  });

  it('npm run replay refuses a partition the topic does not have', async () => {
    const log = await seededLog('cli-partition');

    const run = await runCli(offsetRangeArgs(log.dir, 7, 0, 1));

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('partition 7 does not exist: customer-events.v1 has 3 partitions');
  });

  it('npm run replay exits 1 without the usage when the log fails', async () => {
    // Prepare: the record at offset 4 of partition 2 cannot be decoded.
    const log = await seededLog('cli-corrupt');
    const file = join(log.dir, 'topics', LOCAL_TOPIC, '2.log');
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[4] = '{"offset":4,"this is":"no record"';
    await writeFile(file, lines.join('\n'));

    // Act
    const run = await runCli(offsetRangeArgs(log.dir, 2, 3, 5));

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('replay failed: event log call failed: Record at offset 4');
    expect(run.stderr).not.toContain('usage:');
  });
});

describe('offset ranges', () => {
  it('joins overlapping and touching ranges per partition only', () => {
    expect(
      mergeRanges([
        { partition: 1, fromOffset: 5, toOffset: 9 },
        { partition: 0, fromOffset: 0, toOffset: 3 },
        { partition: 0, fromOffset: 4, toOffset: 6 },
        { partition: 1, fromOffset: 0, toOffset: 2 },
        { partition: 0, fromOffset: 8, toOffset: 8 },
      ]),
    ).toEqual([
      { partition: 0, fromOffset: 0, toOffset: 6 },
      { partition: 0, fromOffset: 8, toOffset: 8 },
      { partition: 1, fromOffset: 0, toOffset: 2 },
      { partition: 1, fromOffset: 5, toOffset: 9 },
    ]);
  });

  it('bounds the ranges by joining across the smallest holes, keeping every offset covered', () => {
    const offsets = new Map([
      [0, [1, 2, 3, 10, 12, 40]],
      [1, [5, 100]],
    ]);

    const ranges = boundedRanges(offsets, 3);

    // Six runs; the three smallest holes (2, 7, 28 offsets) are joined, the largest (95) is kept.
    expect(ranges).toEqual([
      { partition: 0, fromOffset: 1, toOffset: 40 },
      { partition: 1, fromOffset: 5, toOffset: 5 },
      { partition: 1, fromOffset: 100, toOffset: 100 },
    ]);
    for (const [partition, list] of offsets) {
      for (const offset of list) {
        expect(
          ranges.some((r) => r.partition === partition && r.fromOffset <= offset && offset <= r.toOffset),
        ).toBe(true);
      }
    }
  });
});
