import { PlatformError } from '../../lambdas/shared/errors.js';

/** What went wrong when the harness ran a command or waited for a server. */
export interface HarnessErrorDetails {
  /** The command line that failed, as one string. */
  readonly command?: string;
  /** Exit code of the command; `null` when it was ended by a signal. */
  readonly exitCode?: number | null;
  /** Signal that ended the command, when there was one. */
  readonly signal?: string | null;
  /** The last lines of the command's stderr or of the server's log file. */
  readonly output?: string;
  /** The underlying failure, when there is one. */
  readonly cause?: unknown;
}

/**
 * Raised when a binary is missing, a command fails or a server does not become ready.
 * The message carries the command, its exit code and the tail of its output so a failing test explains itself.
 */
export class HarnessError extends PlatformError {
  override readonly name: string = 'HarnessError';
  readonly command: string | undefined;
  readonly exitCode: number | null | undefined;
  readonly signal: string | null | undefined;
  readonly output: string;

  constructor(summary: string, details: HarnessErrorDetails = {}) {
    super(formatMessage(summary, details), { cause: details.cause });
    this.command = details.command;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.output = details.output ?? '';
  }
}

function formatMessage(summary: string, details: HarnessErrorDetails): string {
  const lines = [summary];
  if (details.command !== undefined) lines.push(`  command: ${details.command}`);
  if (details.exitCode !== undefined && details.exitCode !== null)
    lines.push(`  exit code: ${details.exitCode}`);
  if (details.signal) lines.push(`  signal: ${details.signal}`);
  const output = details.output?.trim();
  if (output) lines.push('  output (last lines):', ...output.split('\n').map((line) => `    ${line}`));
  return lines.join('\n');
}

/** Narrows a caught value to a {@link HarnessError}. */
export function isHarnessError(value: unknown): value is HarnessError {
  return value instanceof HarnessError;
}

/** Narrows a caught value to a Node.js system error that carries an errno `code` such as `ENOENT`. */
export function isErrnoException(value: unknown): value is NodeJS.ErrnoException {
  return value instanceof Error && 'code' in value && typeof value.code === 'string';
}

/** Returns a readable description of any caught value. */
export function describeError(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}

/** Returns the last `count` non-empty lines of `text`. */
export function tailLines(text: string, count = 20): string {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return lines.slice(-count).join('\n');
}
