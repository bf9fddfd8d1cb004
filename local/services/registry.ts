import { describeError, HarnessError } from './errors.js';

/** A server started by the harness that must not outlive the test process. */
export interface ManagedServer {
  /** Human-readable identity for error messages, e.g. `postgres primary on 127.0.0.1:41234`. */
  describe(): string;
  /** Stops the server and removes its temp dir. */
  destroy(): Promise<void>;
  /**
   * Last-resort synchronous cleanup when the process is exiting: SIGKILL the processes this harness
   * started for the server and remove its temp dir. Must not throw.
   */
  killSync(): void;
}

const servers = new Set<ManagedServer>();
const TERMINATING_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

function killAllSync(): void {
  for (const server of servers) {
    try {
      server.killSync();
    } catch {
      // Best effort: the process is going away.
    }
  }
  servers.clear();
}

function onExit(): void {
  killAllSync();
}

function onSignal(signal: NodeJS.Signals): void {
  killAllSync();
  uninstallHooks();
  // With no listener left Node restores the default action, so re-raising ends the process as it would have.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHooks(): void {
  process.on('exit', onExit);
  for (const signal of TERMINATING_SIGNALS) process.on(signal, onSignal);
}

function uninstallHooks(): void {
  process.off('exit', onExit);
  for (const signal of TERMINATING_SIGNALS) process.off(signal, onSignal);
}

/**
 * Tracks a server so {@link destroyAll} and the exit hooks clean it up. While any server is tracked,
 * `exit`, SIGTERM (how Vitest ends its workers), SIGINT and SIGHUP SIGKILL the tracked servers' processes.
 */
export function trackServer(server: ManagedServer): void {
  if (servers.size === 0) installHooks();
  servers.add(server);
}

/** Stops tracking a server (after it was destroyed). */
export function untrackServer(server: ManagedServer): void {
  if (!servers.delete(server)) return;
  if (servers.size === 0) uninstallHooks();
}

/** The servers currently tracked, i.e. started and not yet destroyed. */
export function trackedServers(): readonly ManagedServer[] {
  return [...servers];
}

/**
 * Destroys every tracked server (e.g. in `afterAll`), even when some fail to stop.
 * @throws {HarnessError} listing the servers that could not be destroyed (they were SIGKILLed instead).
 */
export async function destroyAll(): Promise<void> {
  const current = [...servers];
  const results = await Promise.allSettled(current.map((server) => server.destroy()));
  const failures: string[] = [];
  results.forEach((result, index) => {
    const server = current[index];
    if (result.status === 'fulfilled' || server === undefined) return;
    failures.push(`${server.describe()}: ${describeError(result.reason)}`);
    try {
      server.killSync();
    } catch {
      // Already reported above.
    }
    untrackServer(server);
  });
  if (failures.length > 0) {
    throw new HarnessError(`Could not destroy ${failures.length} server(s)`, { output: failures.join('\n') });
  }
}
