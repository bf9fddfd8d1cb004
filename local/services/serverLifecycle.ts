import { acceptsConnections, freePort } from './freePort.js';
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
