import { postgresBinary, runCommand } from './binaries.js';
import { waitFor } from './waitFor.js';

/** A running server to copy from. */
export interface ReplicationSource {
  readonly host: string;
  readonly port: number;
}

/** Where the copy goes: an empty data dir inside the standby's temp dir. */
export interface StandbyDirs {
  readonly dataDir: string;
  readonly rootDir: string;
}

/**
 * Copies a running server with `pg_basebackup -R -X stream`: the copy starts as a streaming standby of
 * `source` (`-R` writes its `primary_conninfo` and `standby.signal`).
 * @throws {HarnessError} when the binary is missing or pg_basebackup fails.
 */
export async function baseBackup(source: ReplicationSource, standby: StandbyDirs): Promise<void> {
  const basebackup = await postgresBinary('pg_basebackup');
  await runCommand(
    basebackup,
    [
      '-D',
      standby.dataDir,
      '-h',
      source.host,
      '-p',
      String(source.port),
      '-U',
      'postgres',
      '-R',
      '-X',
      'stream',
      '--checkpoint=fast',
      '--no-sync',
    ],
    { asPostgres: true, cwd: standby.rootDir },
  );
}

/** A server whose recovery state can be watched. */
export interface RecoveringServer {
  isInRecovery(): Promise<boolean>;
  describe(): string;
  logTail(): Promise<string>;
}

/**
 * Waits until a server is in recovery (a standby replaying WAL) or, after a promotion, out of it.
 * @throws {HarnessError} when the state is not reached within `timeoutMs`.
 */
export async function waitForRecovery(
  server: RecoveringServer,
  inRecovery: boolean,
  timeoutMs: number,
): Promise<void> {
  await waitFor(async () => (await server.isInRecovery()) === inRecovery, {
    timeoutMs,
    description: `${server.describe()} to ${inRecovery ? 'be in' : 'leave'} recovery`,
    output: () => server.logTail(),
  });
}
