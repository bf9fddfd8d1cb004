import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One JSON line the consumer process prints: `started`, then `progress` with the event source's counters. */
export interface ConsumerProgress {
  readonly type: string;
  readonly pid?: number;
  readonly recordsCommitted?: number;
  readonly invocations?: number;
}

export interface ConsumerProcess {
  readonly child: ChildProcess;
  readonly progress: ConsumerProgress[];
}

/**
 * Starts `local/consumer/consumerProcess.ts` as its own process (as a Lambda execution environment runs
 * apart from the event source), collecting its JSON progress lines.
 */
export function startConsumerProcess(env: Readonly<Record<string, string>>): ConsumerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/consumer/consumerProcess.ts'], {
    env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const progress: ConsumerProgress[] = [];
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{')) progress.push(JSON.parse(line) as ConsumerProgress);
    });
  }
  return { child, progress };
}

/** Resolves with the signal or exit code once the process has ended. */
export const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, signal) => resolve(signal ?? code));
  });
