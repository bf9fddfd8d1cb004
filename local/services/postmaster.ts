import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { childPidsOf, commandLineOf, isProcessAlive, signalQuietly } from './processes.js';
import { waitFor } from './waitFor.js';

/** The PID in `postmaster.pid` of `dataDir`, or undefined when the file is missing or holds none. */
export async function readPostmasterPid(dataDir: string): Promise<number | undefined> {
  const content = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number.parseInt(content.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether `pid` is alive and is the postmaster of `dataDir` (not a process that reused the PID). */
export function isPostmasterOf(pid: number, dataDir: string): boolean {
  if (!isProcessAlive(pid)) return false;
  const commandLine = commandLineOf(pid);
  // Without /proc the PID cannot be double-checked; it came from our own postmaster.pid.
  return commandLine === undefined || commandLine.includes(dataDir);
}

/**
 * Removes the lock files of a postmaster that died without `pg_ctl stop`: a dead but not yet reaped
 * postmaster still "exists" for `kill(pid, 0)`, which would make the next start refuse them.
 */
export async function removePostmasterLocks(dataDir: string, socketDir: string, port: number): Promise<void> {
  await rm(join(dataDir, 'postmaster.pid'), { force: true });
  await rm(join(socketDir, `.s.PGSQL.${port}.lock`), { force: true });
}

/**
 * SIGKILLs a postmaster and waits until it is gone; `afterDeath` runs then (e.g. waiting for the port to
 * close). Its former children notice their parent's death and exit; stragglers are SIGKILLed.
 * @throws {HarnessError} when the processes do not go away.
 */
export async function killPostmaster(
  pid: number,
  owner: string,
  afterDeath: () => Promise<void>,
): Promise<void> {
  const children = childPidsOf(pid);
  signalQuietly(pid, 'SIGKILL');
  await waitFor(() => !isProcessAlive(pid), {
    timeoutMs: 10_000,
    description: `postmaster ${pid} of ${owner} to die`,
  });
  await afterDeath();
  const childrenGone = (): boolean => children.every((child) => !isProcessAlive(child));
  try {
    await waitFor(childrenGone, { timeoutMs: 5_000, description: 'orphaned backends to exit' });
  } catch {
    for (const child of children) signalQuietly(child, 'SIGKILL');
    await waitFor(childrenGone, {
      timeoutMs: 5_000,
      description: `backends of ${owner} to die`,
    });
  }
}

/** Synchronous last resort for process exit: SIGKILL a postmaster and its children at once. */
export function killPostmasterSync(pid: number): void {
  const children = childPidsOf(pid);
  signalQuietly(pid, 'SIGKILL');
  for (const child of children) signalQuietly(child, 'SIGKILL');
}
