import { existsSync } from 'node:fs';
import { createClient } from '@redis/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acceptsConnections,
  destroyAll,
  freePort,
  HarnessError,
  PostgresServer,
  RedisServer,
  runCommand,
  trackedServers,
  waitFor,
} from '../../local/services/index.js';

function redisClient(url: string) {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  // A stopped server makes the client emit 'error'; the assertions look at the rejected commands instead.
  client.on('error', () => undefined);
  return client;
}

function closeQuietly(client: { readonly isOpen: boolean; destroy(): void }): void {
  if (client.isOpen) client.destroy();
}

async function queryUrl<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await destroyAll();
});

describe('freePort', () => {
  it('returns a port on 127.0.0.1 that nothing listens on and that is not 5432 or 6379', async () => {
    // Act
    const port = await freePort();

    // Assess
    expect(port).toBeGreaterThan(1024);
    expect([5432, 6379]).not.toContain(port);
    expect(await acceptsConnections(port)).toBe(false);
  });
});

describe('runCommand', () => {
  it('rejects with a HarnessError carrying the command, exit code and stderr tail when a command fails', async () => {
    // Act
    const failure = runCommand('sh', ['-c', 'echo first >&2; echo boom >&2; exit 3']);

    // Assess
    await expect(failure).rejects.toBeInstanceOf(HarnessError);
    await expect(failure).rejects.toMatchObject({
      command: expect.stringContaining('exit 3'),
      exitCode: 3,
      output: expect.stringContaining('boom'),
    });
  });

  it('rejects with a HarnessError naming the binary when it does not exist', async () => {
    // Act
    const failure = runCommand('/nonexistent/initdb', ['--version']);

    // Assess
    await expect(failure).rejects.toThrow(/Binary not found: \/nonexistent\/initdb/);
  });
});

describe('PostgresServer', () => {
  let server: PostgresServer;

  beforeAll(async () => {
    server = await PostgresServer.start({ name: 'harness-test', settings: { work_mem: '8MB' } });
  });

  afterAll(async () => {
    await server.destroy();
  });

  it('starts its own cluster on a free port other than 5432 and answers queries there', async () => {
    // Act
    const result = await server.query<{ port: string; data_directory: string; work_mem: string }>(
      `SELECT current_setting('port') AS port, current_setting('data_directory') AS data_directory,
              current_setting('work_mem') AS work_mem`,
    );

    // Assess
    expect(server.port).not.toBe(5432);
    expect(server.host).toBe('127.0.0.1');
    expect(server.url()).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
    expect(server.isRunning()).toBe(true);
    expect(server.pid).toBeGreaterThan(0);
    expect(result.rows[0]).toEqual({
      port: String(server.port),
      data_directory: server.dataDir,
      work_mem: '8MB',
    });
  });

  it('creates shard databases that each keep their own rows', async () => {
    // Prepare
    const urls = await server.createShardDatabases(4);

    // Act
    for (const [index, url] of urls.entries()) {
      await queryUrl(url, 'CREATE TABLE profile (shard int NOT NULL)');
      await queryUrl(url, 'INSERT INTO profile (shard) VALUES ($1)', [index]);
    }
    const shards = await Promise.all(
      urls.map(async (url) => (await queryUrl<{ shard: number }>(url, 'SELECT shard FROM profile')).rows),
    );

    // Assess
    expect(urls).toEqual([0, 1, 2, 3].map((index) => server.url(`shard_${index}`)));
    expect(shards).toEqual([[{ shard: 0 }], [{ shard: 1 }], [{ shard: 2 }], [{ shard: 3 }]]);
  });

  it('keeps committed rows across an immediate stop and a start on the same port', async () => {
    // Prepare
    await server.query('CREATE TABLE survives_stop (id int)');
    await server.query('INSERT INTO survives_stop VALUES (1)');
    const port = server.port;

    // Act
    await server.stop('immediate');
    const refusedWhileStopped = !(await acceptsConnections(port));
    await server.start();

    // Assess
    expect(refusedWhileStopped).toBe(true);
    expect(server.port).toBe(port);
    expect((await server.query('SELECT id FROM survives_stop')).rows).toEqual([{ id: 1 }]);
  });

  it('closes its port when killed with SIGKILL and runs crash recovery on the next start', async () => {
    // Prepare
    await server.query('CREATE TABLE survives_crash (id int)');
    await server.query('INSERT INTO survives_crash VALUES (7)');
    const crashedPid = server.pid;

    // Act
    await server.kill();
    const runningAfterKill = server.isRunning();
    const acceptingAfterKill = await acceptsConnections(server.port);
    await server.restart();

    // Assess
    expect(runningAfterKill).toBe(false);
    expect(acceptingAfterKill).toBe(false);
    expect(server.pid).not.toBe(crashedPid);
    expect((await server.query('SELECT id FROM survives_crash')).rows).toEqual([{ id: 7 }]);
    expect(await server.logTail(200)).toMatch(/database system was interrupted|not properly shut down/);
  });

  it('refuses to promote a server that is not a standby', async () => {
    // Act
    const promotion = server.promote();

    // Assess
    await expect(promotion).rejects.toThrow(/not a standby/);
  });

  it('refuses the standard PostgreSQL port', async () => {
    // Act
    const start = PostgresServer.start({ port: 5432 });

    // Assess
    await expect(start).rejects.toThrow(HarnessError);
  });
});

describe('PostgresServer streaming standby', () => {
  let primary: PostgresServer;
  let standby: PostgresServer;

  beforeAll(async () => {
    primary = await PostgresServer.start({ name: 'failover-primary' });
    await primary.query('CREATE TABLE event (id int PRIMARY KEY)');
    standby = await primary.createStandby();
  });

  afterAll(async () => {
    await Promise.all([primary.destroy(), standby.destroy()]);
  });

  it('replicates primary writes to the standby, which takes writes after the primary crashes and it is promoted', async () => {
    // Prepare
    const standbyWasInRecovery = await standby.isInRecovery();
    await primary.query('INSERT INTO event VALUES (1)');
    await waitFor(async () => (await standby.query('SELECT id FROM event')).rowCount === 1, {
      timeoutMs: 10_000,
      description: 'row 1 to reach the standby',
    });

    // Act
    await primary.kill();
    await standby.promote();
    await standby.query('INSERT INTO event VALUES (2)');

    // Assess
    expect(standbyWasInRecovery).toBe(true);
    expect(standby.port).not.toBe(primary.port);
    expect(primary.isRunning()).toBe(false);
    expect(await acceptsConnections(primary.port)).toBe(false);
    expect(await standby.isInRecovery()).toBe(false);
    expect((await standby.query('SELECT id FROM event ORDER BY id')).rows).toEqual([{ id: 1 }, { id: 2 }]);
  });
});

describe('RedisServer', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start({ name: 'harness-test' });
  });

  afterAll(async () => {
    await redis.destroy();
  });

  it('starts on a free port other than 6379 and stores and returns values', async () => {
    // Prepare
    const client = redisClient(redis.url);
    await client.connect();

    try {
      // Act
      await client.set('profile:1', 'alice');
      const value = await client.get('profile:1');

      // Assess
      expect(redis.port).not.toBe(6379);
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(redis.pid).toBeGreaterThan(0);
      expect(value).toBe('alice');
    } finally {
      closeQuietly(client);
    }
  });

  it('makes clients fail while stopped and serves them again after a restart on the same port', async () => {
    // Prepare
    const before = redisClient(redis.url);
    await before.connect();
    await before.set('session', 'kept-in-memory-only');
    const port = redis.port;

    try {
      // Act
      await redis.stop();
      await expect(before.get('session')).rejects.toThrow();
      await expect(redisClient(redis.url).connect()).rejects.toThrow(/ECONNREFUSED/);
      await redis.restart();
      const after = redisClient(redis.url);
      await after.connect();
      const valueAfterRestart = await after.get('session');
      await after.set('session', 'again');
      const newValue = await after.get('session');
      closeQuietly(after);

      // Assess
      expect(redis.port).toBe(port);
      expect(redis.isRunning()).toBe(true);
      expect(valueAfterRestart).toBeNull();
      expect(newValue).toBe('again');
    } finally {
      closeQuietly(before);
    }
  });

  it('refuses connections on its port after being killed with SIGKILL', async () => {
    // Prepare
    const killedPid = redis.pid;

    // Act
    await redis.kill();

    // Assess
    expect(killedPid).toBeGreaterThan(0);
    expect(redis.isRunning()).toBe(false);
    expect(redis.pid).toBeUndefined();
    expect(await acceptsConnections(redis.port)).toBe(false);
    await expect(redisClient(redis.url).connect()).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses the standard Redis port', async () => {
    // Act
    const start = RedisServer.start({ port: 6379 });

    // Assess
    await expect(start).rejects.toThrow(HarnessError);
  });
});

describe('destroyAll', () => {
  it('stops every tracked server, closes its port and removes its temp dir', async () => {
    // Prepare
    const postgres = await PostgresServer.start({ name: 'tracked' });
    const redis = await RedisServer.start({ name: 'tracked' });

    // Act
    await destroyAll();

    // Assess
    expect(trackedServers()).not.toContain(postgres);
    expect(trackedServers()).not.toContain(redis);
    expect(postgres.isRunning()).toBe(false);
    expect(redis.isRunning()).toBe(false);
    expect(await acceptsConnections(postgres.port)).toBe(false);
    expect(await acceptsConnections(redis.port)).toBe(false);
    expect(existsSync(postgres.rootDir)).toBe(false);
    expect(existsSync(redis.dir)).toBe(false);
  });
});
