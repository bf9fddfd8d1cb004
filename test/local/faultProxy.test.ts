import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createClient } from '@redis/client';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy, InvalidFaultOptionError, ProxyListenError } from '../../local/faults/index.js';
import {
  acceptsConnections,
  destroyAll,
  freePort,
  PostgresServer,
  RedisServer,
  sleep,
  waitFor,
} from '../../local/services/index.js';

const LATENCY_MS = 200;
const CLIENT_TIMEOUT_MS = 300;
const CUT_MS = 500;
/** What a client sees when the proxy resets its connection, depending on whether it was reading or writing. */
const RESET = /ECONNRESET|EPIPE|terminated/i;

let postgres: PostgresServer;
let redis: RedisServer;
const proxies: FaultProxy[] = [];
const clients: Array<{ close(): void }> = [];

async function proxyTo(server: { readonly host: string; readonly port: number }): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ host: server.host, port: server.port });
  proxies.push(proxy);
  return proxy;
}

/** A pg client whose 'error' events are kept instead of ending the test process. */
function pgClient(port: number, options: Partial<pg.ClientConfig> = {}): pg.Client {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    ...options,
  });
  client.on('error', () => undefined);
  clients.push({ close: () => void client.end().catch(() => undefined) });
  return client;
}

async function selectOne(port: number): Promise<number | undefined> {
  const client = pgClient(port, { connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    const result = await client.query<{ one: number }>('SELECT 1 AS one');
    return result.rows[0]?.one;
  } finally {
    await client.end();
  }
}

function redisClient(port: number) {
  const client = createClient({
    url: `redis://127.0.0.1:${port}`,
    socket: { reconnectStrategy: false, connectTimeout: 2_000 },
  });
  client.on('error', () => undefined);
  clients.push({ close: () => client.isOpen && client.destroy() });
  return client;
}

async function elapsedMs(action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

beforeAll(async () => {
  [postgres, redis] = await Promise.all([
    PostgresServer.start({ name: 'fault-proxy' }),
    RedisServer.start({ name: 'fault-proxy' }),
  ]);
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

afterAll(async () => {
  await destroyAll();
});

describe('FaultProxy', () => {
  it('forwards SQL and Redis commands unchanged', async () => {
    // Prepare
    const pgProxy = await proxyTo(postgres);
    const redisProxy = await proxyTo(redis);
    const sql = pgClient(pgProxy.port);
    const cache = redisClient(redisProxy.port);
    await Promise.all([sql.connect(), cache.connect()]);

    // Act
    const sum = await sql.query<{ sum: number }>('SELECT $1::int + $2::int AS sum', [40, 2]);
    const pong = await cache.ping();
    await cache.set('fault-proxy:key', 'value through the proxy');
    const value = await cache.get('fault-proxy:key');

    // Assess
    expect(sum.rows[0]?.sum).toBe(42);
    expect(pong).toBe('PONG');
    expect(value).toBe('value through the proxy');
    expect(
      await redisClient(redis.port)
        .connect()
        .then((direct) => direct.get('fault-proxy:key')),
    ).toBe('value through the proxy');
    expect(pgProxy.url('postgres')).toBe(`postgres://127.0.0.1:${pgProxy.port}`);
    expect(pgProxy.via(postgres.url())).toBe(`postgres://postgres@127.0.0.1:${pgProxy.port}/postgres`);
  });

  it('delays each direction of an open connection by the latency', async () => {
    // Prepare
    const pgProxy = await proxyTo(postgres);
    const redisProxy = await proxyTo(redis);
    const sql = pgClient(pgProxy.port);
    const cache = redisClient(redisProxy.port);
    await Promise.all([sql.connect(), cache.connect()]);

    // Act
    pgProxy.setLatency(LATENCY_MS);
    redisProxy.setLatency(LATENCY_MS);
    const [queryMs, pingMs] = await Promise.all([
      elapsedMs(() => sql.query('SELECT 1')),
      elapsedMs(() => cache.ping()),
    ]);

    // Assess: the request and the reply are each held back, so a round trip takes at least twice the latency.
    expect(queryMs).toBeGreaterThanOrEqual(2 * LATENCY_MS);
    expect(pingMs).toBeGreaterThanOrEqual(2 * LATENCY_MS);
  });

  it('keeps the byte stream in order when jitter varies the delay of each chunk', async () => {
    // Prepare
    const proxy = await proxyTo(redis);
    const cache = redisClient(proxy.port);
    await cache.connect();
    await cache.del('fault-proxy:counter');
    proxy.setLatency(5, { jitterMs: 20 });

    // Act
    const replies = await Promise.all(Array.from({ length: 50 }, () => cache.incr('fault-proxy:counter')));

    // Assess
    expect(replies).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
  });

  it('refuses new connections with ECONNREFUSED while open ones keep working, then accepts again on the same port', async () => {
    // Prepare
    const proxy = await proxyTo(postgres);
    const port = proxy.port;
    const open = pgClient(port);
    await open.connect();

    // Act
    await proxy.refuse();
    const refused = pgClient(port).connect();

    // Assess
    await expect(refused).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await open.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    await proxy.heal();
    expect(proxy.port).toBe(port);
    expect(await selectOne(port)).toBe(1);
  });

  it('hangs open and new connections until a client timeout while the server still answers directly', async () => {
    // Prepare
    const proxy = await proxyTo(postgres);
    const open = pgClient(proxy.port, { query_timeout: CLIENT_TIMEOUT_MS });
    await open.connect();

    // Act
    await proxy.hang();
    const query = open.query('SELECT 1');
    const connectAttempt = pgClient(proxy.port, { connectionTimeoutMillis: CLIENT_TIMEOUT_MS }).connect();

    // Assess
    await expect(query).rejects.toThrow(/Query read timeout/);
    await expect(connectAttempt).rejects.toThrow(/timeout expired/);
    expect((await postgres.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    const openLost = once(open, 'error');
    await proxy.heal();
    // Healing drops what the hang held: the open client is reset rather than handed a stale reply.
    const [lostError] = await openLost;
    expect(String(lostError)).toMatch(RESET);
    expect(proxy.stats().resets).toBe(2);
    expect(await selectOne(proxy.port)).toBe(1);
  });

  it('resets an open client and every new connection until healed', async () => {
    // Prepare
    const proxy = await proxyTo(postgres);
    const open = pgClient(proxy.port);
    await open.connect();
    const openLost = once(open, 'error');

    // Act
    await proxy.reset();
    const [lostError] = await openLost;
    const fresh = pgClient(proxy.port).connect();

    // Assess
    expect(lostError).toMatchObject({ code: 'ECONNRESET' });
    await expect(fresh).rejects.toThrow(RESET);
    expect(proxy.stats().resets).toBe(2);
    await proxy.heal();
    expect(await selectOne(proxy.port)).toBe(1);
  });

  it('cuts every connection for the duration of a partition and heals by itself', async () => {
    // Prepare
    const proxy = await proxyTo(redis);
    const open = redisClient(proxy.port);
    await open.connect();

    // Act
    const healed = proxy.cut(CUT_MS);
    const duringCut = proxy.fault;
    await waitFor(() => !open.isOpen, { timeoutMs: 2_000, description: 'the open client to be cut' });
    const refused = redisClient(proxy.port).connect();
    await expect(refused).rejects.toThrow(/ECONNREFUSED/);
    await sleep(CUT_MS / 2);
    const stillCut = await acceptsConnections(proxy.port);
    await healed;

    // Assess
    expect(duringCut).toBe('cut');
    expect(stillCut).toBe(false);
    expect(proxy.fault).toBe('none');
    const after = redisClient(proxy.port);
    await after.connect();
    expect(await after.ping()).toBe('PONG');
  });

  it('counts accepted, active and reset connections and the bytes each way', async () => {
    // Prepare
    const proxy = await proxyTo(redis);
    const first = redisClient(proxy.port);
    const second = redisClient(proxy.port);
    await Promise.all([first.connect(), second.connect()]);
    await Promise.all([first.ping(), second.ping()]);
    const whileOpen = proxy.stats();

    // Act
    await Promise.all([first.close(), second.close()]);
    await waitFor(() => proxy.stats().active === 0, {
      timeoutMs: 2_000,
      description: 'connections to close',
    });
    await proxy.reset();
    await expect(redisClient(proxy.port).connect()).rejects.toThrow();

    // Assess
    expect(whileOpen).toMatchObject({ accepted: 2, active: 2, refused: 0, resets: 0 });
    expect(whileOpen.bytesUp).toBeGreaterThan(0);
    expect(whileOpen.bytesDown).toBeGreaterThan(0);
    expect(proxy.stats()).toMatchObject({ accepted: 3, active: 0, refused: 0, resets: 1 });
  });

  it('resets clients and counts a refusal when the target is down, without ending the process', async () => {
    // Prepare
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: await freePort() });
    proxies.push(proxy);

    // Act
    const attempt = pgClient(proxy.port).connect();

    // Assess
    await expect(attempt).rejects.toThrow(RESET);
    await waitFor(() => proxy.stats().active === 0, { timeoutMs: 2_000, description: 'the link to close' });
    expect(proxy.stats()).toMatchObject({ accepted: 1, active: 0, refused: 1, resets: 0 });
  });

  it('stops listening and ends open connections on close', async () => {
    // Prepare
    const proxy = await proxyTo(redis);
    const open = redisClient(proxy.port);
    await open.connect();

    // Act
    await proxy.close();

    // Assess
    expect(await acceptsConnections(proxy.port)).toBe(false);
    await waitFor(() => !open.isOpen, { timeoutMs: 2_000, description: 'the open client to be closed' });
    expect(() => proxy.cut(100)).toThrow(/closed/);
    expect(() => proxy.setLatency(-1)).toThrow(InvalidFaultOptionError);
  });

  it('listens on the port it is given and reports one that is taken', async () => {
    // Prepare
    const port = await freePort();
    const proxy = await FaultProxy.start({ host: redis.host, port: redis.port }, { port });
    proxies.push(proxy);

    // Act
    const second = FaultProxy.start({ host: redis.host, port: redis.port }, { port });

    // Assess
    expect(proxy.port).toBe(port);
    await expect(second).rejects.toBeInstanceOf(ProxyListenError);
    await expect(second).rejects.toMatchObject({ port, retriable: true });
    await expect(FaultProxy.start({ host: redis.host, port: redis.port }, { port: 6379 })).rejects.toThrow(
      InvalidFaultOptionError,
    );
  });
});
