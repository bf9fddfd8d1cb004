import { readdirSync, readFileSync } from 'node:fs';
import { isErrnoException } from './errors.js';

interface ProcessStat {
  readonly state: string;
  readonly ppid: number;
}

function readStat(pid: number): ProcessStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is parenthesised and may contain spaces; the fields after it are fixed.
    const [state = '', ppid = ''] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

/**
 * Reports whether process `pid` exists and is not a zombie.
 * A zombie counts as dead: a server that is not our direct child may be left unreaped by the container's init.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error: unknown) {
    return isErrnoException(error) && error.code === 'EPERM';
  }
  return readStat(pid)?.state !== 'Z';
}

/** Lists the PIDs whose parent is `pid` (Linux `/proc`; empty elsewhere). */
export function childPidsOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((candidate) => readStat(candidate)?.ppid === pid);
}

/** Returns the command line of process `pid` with arguments joined by spaces, or undefined when unknown. */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. Returns whether the signal was delivered. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
