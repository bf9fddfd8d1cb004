import { connect, createServer } from 'node:net';
import { HarnessError } from './errors.js';

/** Ports of the services that already run on this machine; the harness never uses them. */
export const RESERVED_PORTS: ReadonlySet<number> = new Set([5432, 6379]);

/** The only interface the harness binds to and connects to. */
export const LOOPBACK = '127.0.0.1';

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => {
        if (port === undefined) reject(new HarnessError('Could not read the port of a probe listener'));
        else resolve(port);
      });
    });
  });
}

/**
 * Where the harness picks ports: below Linux's default ephemeral range (32768-60999), from which the
 * kernel assigns the local ports of outgoing connections. A port picked there could be taken by any client
 * socket of this machine before a server binds it (or while a killed server is down); here only another
 * harness can take it.
 */
export const HARNESS_PORT_RANGE = { min: 20_000, max: 32_000 } as const;

/** Ports this process handed out, never handed out twice (a stopped server comes back on its port). */
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolve(true)));
  });
}

/**
 * Finds a TCP port on 127.0.0.1 that is free right now, never 5432 or 6379 and never one this process
 * handed out before: a random one of {@link HARNESS_PORT_RANGE}, else one the kernel picks.
 * Another process may still take it before the caller binds, so callers retry on "address in use".
 * @throws {HarnessError} when no port can be obtained.
 */
export async function freePort(): Promise<number> {
  const span = HARNESS_PORT_RANGE.max - HARNESS_PORT_RANGE.min;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = HARNESS_PORT_RANGE.min + Math.floor(Math.random() * span);
    if (RESERVED_PORTS.has(port) || handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const port = await ephemeralPort();
    if (!RESERVED_PORTS.has(port) && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new HarnessError('Could not obtain a free TCP port on 127.0.0.1');
}

/**
 * Reports whether something accepts TCP connections on `port` of 127.0.0.1.
 * Never throws: refusal, reset and timeout all count as "not accepting".
 */
export function acceptsConnections(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    const finish = (accepted: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(accepted);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * Throws when `port` belongs to a service this machine already runs.
 * @throws {HarnessError} for 5432 and 6379.
 */
export function assertNotReserved(port: number): void {
  if (RESERVED_PORTS.has(port)) {
    throw new HarnessError(
      `Port ${port} belongs to a service already running on this machine; use a free port`,
    );
  }
}
