import { createScratchDir } from './binaries.js';
import { acceptsConnections, freePort } from './freePort.js';
import { type ManagedServer, trackServer, untrackServer } from './registry.js';
import { settlesWithin } from './serverFiles.js';
import { sleep, waitFor } from './waitFor.js';

/** Fresh ports tried when the kernel-chosen port is taken before the server binds it. */
export const START_ATTEMPTS = 5;
/** How long a fixed port (e.g. on restart) is retried while another socket still holds it. */
export const FIXED_PORT_RETRY_MS = 5_000;
/** Pause before a fixed port is tried again. */
const FIXED_PORT_PAUSE_MS = 250;

/** One server start that may lose its port to another socket, for {@link startRetryingPort}. */
export interface PortBoundStart {
  /** Whether the port must not change: it is then retried for a while, else a fresh port is tried. */
  readonly pinned: boolean;
  /** One start attempt on the current port. */
  readonly attempt: () => Promise<void>;
  /** After a failed attempt (always called, so it may clean up): whether it failed because the port was taken. */
  readonly portTaken: (error: unknown) => Promise<boolean>;
  /** Moves the server to a fresh port before the next attempt (only when not pinned). */
  readonly movePort: (port: number) => void;
}

/**
 * Starts a server that binds a port picked earlier: another process may take the port between
 * `freePort()` and the bind, or a killed server's socket may linger. A pinned port is retried until
 * {@link FIXED_PORT_RETRY_MS} have passed, an unpinned one is replaced up to {@link START_ATTEMPTS} times.
 * @throws whatever the last attempt threw, or at once what an attempt threw for another reason.
 */
export async function startRetryingPort(start: PortBoundStart): Promise<void> {
  const retryUntil = Date.now() + FIXED_PORT_RETRY_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await start.attempt();
      return;
    } catch (error: unknown) {
      const taken = await start.portTaken(error);
      const retry = start.pinned ? Date.now() < retryUntil : attempt < START_ATTEMPTS;
      if (!taken || !retry) throw error;
      if (start.pinned) await sleep(FIXED_PORT_PAUSE_MS);
      else start.movePort(await freePort());
    }
  }
}

/**
 * Waits until nothing accepts connections on `port` any more.
 * @throws {HarnessError} when the port is still open after `timeoutMs`.
 */
export async function waitUntilPortClosed(port: number, owner: string, timeoutMs: number): Promise<void> {
  await waitFor(async () => !(await acceptsConnections(port)), {
    timeoutMs,
    description: `port ${port} of ${owner} to close`,
  });
}

/** Where a new server lives, from {@link placeServer}. */
export interface ServerPlace {
  /** Its own scratch dir. */
  readonly dir: string;
  readonly port: number;
  /** Whether the caller chose the port (it is then kept even when busy). */
  readonly portFixed: boolean;
}

/**
 * Makes a new server's scratch dir and picks its port: the one asked for, or a free one.
 * @throws {HarnessError} when the dir cannot be made or handed over to the postgres OS user.
 */
export async function placeServer(
  prefix: string,
  port: number | undefined,
  scratch: { readonly forPostgres?: boolean } = {},
): Promise<ServerPlace> {
  const dir = await createScratchDir(prefix, scratch);
  return { dir, port: port ?? (await freePort()), portFixed: port !== undefined };
}

/**
 * Tracks a new server so the exit hooks remove it, then runs its first start. A server whose first start
 * fails is destroyed (SIGKILLed when that fails too) and untracked before the error is rethrown.
 * @throws whatever `firstStart` threw.
 */
export async function startTracked<S extends ManagedServer>(
  server: S,
  firstStart: () => Promise<void>,
): Promise<S> {
  trackServer(server);
  try {
    await firstStart();
    return server;
  } catch (error: unknown) {
    await server.destroy().catch(() => server.killSync());
    untrackServer(server);
    throw error;
  }
}

/** Stops a child process gracefully: SIGTERM, then SIGKILL when it has not exited within `timeoutMs`. */
export async function terminate(
  signal: (name: NodeJS.Signals) => void,
  exited: Promise<void>,
  timeoutMs: number,
): Promise<void> {
  signal('SIGTERM');
  if (!(await settlesWithin(exited, timeoutMs))) {
    signal('SIGKILL');
    await exited;
  }
}
