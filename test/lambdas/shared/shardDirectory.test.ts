import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  fileShardMapSource,
  parseShardMap,
  ShardDirectory,
  type ShardDirectoryLogger,
  type ShardMap,
  writeShardMapFile,
} from '../../../lambdas/shared/sharding/index.js';
import {
  PgSqlClient,
  type SqlClient,
  type SqlExecutor,
  sqlClientFor,
} from '../../../lambdas/shared/sql/index.js';
import { PostgresServer, sleep, waitFor } from '../../../local/services/index.js';

const GRACE_MILLIS = 300;

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

/** A logger that keeps what it is told, to check what operators would see. */
function recordingLogger(): { logger: ShardDirectoryLogger; logged: Logged[] } {
  const logged: Logged[] = [];
  const keep =
    (level: Logged['level']) =>
    (message: string): void => {
      logged.push({ level, message });
    };
  return { logger: { info: keep('info'), warn: keep('warn'), error: keep('error') }, logged };
}

/** `sqlClientFor` that also remembers which clients were closed. */
function trackingClients(): { clientFor: typeof sqlClientFor; closed: Set<SqlClient> } {
  const closed = new Set<SqlClient>();
  const clientFor: typeof sqlClientFor = (shard) => {
    if (shard.url === undefined) return sqlClientFor(shard);
    const client = new PgSqlClient({ name: shard.id, connectionString: shard.url, maxConnections: 2 });
    const close = client.close.bind(client);
    client.close = async () => {
      closed.add(client);
      await close();
    };
    return client;
  };
  return { clientFor, closed };
}

async function databaseOf(client: SqlExecutor | undefined): Promise<string | undefined> {
  const { rows } = (await client?.query<{ db: string }>('SELECT current_database() AS db')) ?? { rows: [] };
  return rows[0]?.db;
}

describe('a shard directory following a shard map file, on real PostgreSQL', () => {
  let postgres: PostgresServer;
  let dir: string;
  let path: string;
  let urls: string[];
  const open: ShardDirectory[] = [];

  const mapOf = (shardUrls: readonly string[], extra: Partial<ShardMap> = {}): ShardMap =>
    parseShardMap({ version: 1, shards: shardUrls.map((url, i) => ({ id: `shard-${i}`, url })), ...extra });

  async function openDirectory(map: ShardMap, logger?: ShardDirectoryLogger) {
    await writeShardMapFile(path, map);
    const tracking = trackingClients();
    const directory = await ShardDirectory.open(fileShardMapSource(path), {
      clientFor: tracking.clientFor,
      retireGraceMillis: GRACE_MILLIS,
      pollMillis: 50,
      ...(logger ? { logger } : {}),
    });
    open.push(directory);
    return { directory, closed: tracking.closed };
  }

  beforeAll(async () => {
    postgres = await PostgresServer.start({ name: 'shard-directory' });
    urls = await postgres.createShardDatabases(3, 'directory');
    dir = await mkdtemp(join(tmpdir(), 'cdp-shard-directory-'));
    path = join(dir, 'shard-map.json');
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  afterAll(async () => {
    await postgres?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('swaps the client of a repointed shard inside the same Map object', async () => {
    const { directory } = await openDirectory(mapOf([urls[0] ?? '', urls[1] ?? '']));
    const shards = directory.shards;
    const before = shards.get('shard-1');
    const untouched = shards.get('shard-0');

    await writeShardMapFile(path, mapOf([urls[0] ?? '', urls[2] ?? '']));
    const outcome = await directory.refresh();

    expect(outcome).toEqual({ status: 'repointed', shards: ['shard-1'] });
    expect(directory.shards).toBe(shards);
    expect(shards.get('shard-1')).not.toBe(before);
    expect(shards.get('shard-0')).toBe(untouched);
    expect(await databaseOf(shards.get('shard-1'))).toBe('directory_2');
    expect(directory.router.shard('shard-1')?.url).toBe(urls[2]);
  });

  it('lets a transaction begun on the replaced client commit, then closes that client after the grace period', async () => {
    const { directory, closed } = await openDirectory(mapOf([urls[0] ?? '', urls[1] ?? '']));
    const old = directory.shards.get('shard-1');
    if (old === undefined) throw new Error('shard-1 has no client');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inFlight = old.transaction(async (tx) => {
      await held;
      return databaseOf(tx);
    });

    await writeShardMapFile(path, mapOf([urls[0] ?? '', urls[2] ?? '']));
    await directory.refresh();
    release();
    const committedOn = await inFlight;
    const closedRightAway = closed.has(old);
    await waitFor(() => closed.has(old), { timeoutMs: 5_000, description: 'the old client to be closed' });

    expect(committedOn).toBe('directory_1');
    expect(closedRightAway).toBe(false);
    await expect(old.query('SELECT 1')).rejects.toThrow();
    expect(closed.has(directory.shards.get('shard-1') as SqlClient)).toBe(false);
  });

  it('changes nothing when the map is unchanged', async () => {
    const { directory, closed } = await openDirectory(mapOf([urls[0] ?? '', urls[1] ?? '']));
    const clients = [...directory.shards.values()];
    const router = directory.router;

    await writeShardMapFile(path, mapOf([urls[0] ?? '', urls[1] ?? '']));
    const outcome = await directory.refresh();
    await sleep(GRACE_MILLIS * 2);

    expect(outcome).toEqual({ status: 'unchanged' });
    expect([...directory.shards.values()]).toEqual(clients);
    expect(directory.router).toBe(router);
    expect(closed.size).toBe(0);
  });

  it('refuses a map that moves buckets or changes the shard ids, logs it, and keeps the current map', async () => {
    const { logger, logged } = recordingLogger();
    const current = mapOf([urls[0] ?? '', urls[1] ?? '']);
    const { directory, closed } = await openDirectory(current, logger);
    const clients = [...directory.shards.values()];
    const moved = mapOf([urls[0] ?? '', urls[2] ?? ''], {
      buckets: [
        { from: 0, to: 99, shard: 'shard-0' },
        { from: 100, to: 1023, shard: 'shard-1' },
      ],
    });
    const added = mapOf([urls[0] ?? '', urls[1] ?? '', urls[2] ?? '']);
    const renamed = parseShardMap({
      version: 1,
      shards: [
        { id: 'shard-0', url: urls[0] },
        { id: 'shard-7', url: urls[1] },
      ],
    });

    const outcomes = [];
    for (const next of [moved, added, renamed]) {
      await writeShardMapFile(path, next);
      outcomes.push(await directory.refresh());
    }

    expect(outcomes.map((o) => o.status)).toEqual(['refused', 'refused', 'refused']);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringContaining('bucket ranges changed') });
    expect(outcomes[1]).toMatchObject({ reason: expect.stringContaining('shard ids changed') });
    expect(directory.map).toEqual(current);
    expect([...directory.shards.values()]).toEqual(clients);
    expect(await databaseOf(directory.shards.get('shard-1'))).toBe('directory_1');
    expect(closed.size).toBe(0);
    expect(logged.filter((l) => l.level === 'error')).toHaveLength(3);
  });

  it('refuses a malformed map file, keeps serving, logs it once, and follows the next valid map', async () => {
    const { logger, logged } = recordingLogger();
    const { directory } = await openDirectory(mapOf([urls[0] ?? '', urls[1] ?? '']), logger);
    const before = directory.shards.get('shard-1');

    await writeFile(path, '{"version": 1, "shards": [');
    const first = await directory.refresh();
    const second = await directory.refresh();
    const servedMeanwhile = await databaseOf(directory.shards.get('shard-1'));
    await writeShardMapFile(path, mapOf([urls[0] ?? '', urls[2] ?? '']));
    const recovered = await directory.refresh();

    expect(first).toMatchObject({ status: 'refused', reason: expect.stringContaining('not JSON') });
    expect(second.status).toBe('refused');
    expect(servedMeanwhile).toBe('directory_1');
    expect(directory.shards.get('shard-1')).not.toBe(before);
    expect(recovered).toEqual({ status: 'repointed', shards: ['shard-1'] });
    expect(logged.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(logged.filter((l) => l.message === 'shard repointed')).toHaveLength(1);
  });

  it('refuses a map with a shard it cannot build a client for, and repoints none of the others', async () => {
    const { logger, logged } = recordingLogger();
    const { directory, closed } = await openDirectory(mapOf([urls[0] ?? '', urls[1] ?? '']), logger);
    const clients = [...directory.shards.values()];
    const unreachable = parseShardMap({
      version: 1,
      shards: [{ id: 'shard-0', url: urls[2] }, { id: 'shard-1' }],
    });

    await writeShardMapFile(path, unreachable);
    const outcome = await directory.refresh();

    expect(outcome).toMatchObject({
      status: 'refused',
      reason: expect.stringContaining('shard-1 names neither'),
    });
    expect([...directory.shards.values()]).toEqual(clients);
    expect(await databaseOf(directory.shards.get('shard-0'))).toBe('directory_0');
    // The client built for shard-0's new URL is discarded with the map; the serving ones stay open.
    expect(closed.size).toBe(1);
    expect(clients.filter((c) => closed.has(c))).toEqual([]);
    expect(logged.filter((l) => l.level === 'error')).toHaveLength(1);
  });

  it('follows the file by itself once polling is started, and stops following once stopped', async () => {
    const { directory } = await openDirectory(mapOf([urls[0] ?? '', urls[1] ?? '']));
    directory.start();

    await writeShardMapFile(path, mapOf([urls[0] ?? '', urls[2] ?? '']));
    await waitFor(() => directory.router.shard('shard-1')?.url === urls[2], {
      timeoutMs: 5_000,
      description: 'the directory to pick up the new map',
    });
    await directory.stop();
    const afterStop = directory.shards.get('shard-1');
    await writeShardMapFile(path, mapOf([urls[0] ?? '', urls[1] ?? '']));
    await sleep(300);

    expect(await databaseOf(afterStop)).toBe('directory_2');
    expect(directory.shards.get('shard-1')).toBe(afterStop);
  });
});
