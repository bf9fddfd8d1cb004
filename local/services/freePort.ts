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
 * Finds a TCP port on 127.0.0.1 that is free right now (the kernel picks it), never 5432 or 6379.
 * Another process may still take it before the caller binds, so callers retry on "address in use".
 * @throws {HarnessError} when no port can be obtained.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const port = await ephemeralPort();
    if (!RESERVED_PORTS.has(port)) return port;
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
