import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One JSON line the consumer process prints: `started`, then `progress` with the event source's counters. */
export interface ConsumerProgress {
  readonly type: string;
  readonly pid?: number;
  readonly recordsCommitted?: number;
  readonly invocations?: number;
  readonly functionErrors?: number;
  readonly sentToDestination?: number;
}

export interface ConsumerLog {
  readonly level?: string;
  readonly message?: string;
  readonly timestamp?: string;
}

export interface ConsumerProcess {
  readonly child: ChildProcess;
  readonly progress: ConsumerProgress[];
  /** Its structured logs, when started with `keepLogs`. */
  readonly logs: ConsumerLog[];
  /** The last lines of anything else it wrote to stderr (a crash, for one). */
  readonly otherOutput: string[];
}

const OTHER_OUTPUT_LINES = 50;

/**
 * Starts `local/consumer/consumerProcess.ts` as its own process (as a Lambda execution environment runs
 * apart from the event source), collecting its JSON progress lines. Its structured logs (the per-event
 * warnings of an outage are many) are kept with `keepLogs`, never echoed.
 */
export function startConsumerProcess(
  env: Readonly<Record<string, string>>,
  options: { readonly keepLogs?: boolean } = {},
): ConsumerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/consumer/consumerProcess.ts'], {
    env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const progress: ConsumerProgress[] = [];
  const logs: ConsumerLog[] = [];
  const otherOutput: string[] = [];
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{')) progress.push(JSON.parse(line) as ConsumerProgress);
    });
  }
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.startsWith('{')) {
        if (options.keepLogs) logs.push(JSON.parse(line) as ConsumerLog);
      } else {
        otherOutput.push(line);
        if (otherOutput.length > OTHER_OUTPUT_LINES) otherOutput.shift();
      }
    });
  }
  return { child, progress, logs, otherOutput };
}

/** Resolves with the signal or exit code once the process has ended. */
export const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, signal) => resolve(signal ?? code));
  });
