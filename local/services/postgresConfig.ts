import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { giveToPostgres } from './binaries.js';
import { HarnessError } from './errors.js';

/**
 * Settings for a throwaway server: flushing to disk off for speed, streaming replication on.
 * `synchronous_commit` stays on: with `fsync` off a commit's WAL write only reaches the page cache, so turning it
 * off saves nothing measurable, while it would let `kill()` and `stop('immediate')` lose acknowledged commits and
 * make crash and failover tests flaky. Pass `{ synchronous_commit: 'off' }` in the settings to opt in.
 */
const DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  fsync: 'off',
  full_page_writes: 'off',
  wal_level: 'replica',
  max_wal_senders: '10',
  max_connections: '200',
};
/** Settings the harness owns: they decide where the server listens. */
const IDENTITY_SETTINGS = new Set(['listen_addresses', 'port', 'unix_socket_directories']);
const HARNESS_CONF = 'harness.conf';
const REPLICATION_HBA_LINE = 'host    replication     all             127.0.0.1/32            trust';
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const SETTING_NAME = /^[a-z_][a-z0-9_.]*$/i;

/**
 * Checks a database name before it is put into a statement.
 * @throws {HarnessError} for a name that is not a plain lower-case identifier.
 */
export function assertIdentifier(name: string): void {
  if (!IDENTIFIER.test(name)) {
    throw new HarnessError(
      `Invalid database name ${JSON.stringify(name)}: use lower-case letters, digits and _`,
    );
  }
}

/**
 * Checks the caller's `postgresql.conf` settings.
 * @throws {HarnessError} for a malformed name or a setting the harness owns.
 */
export function assertSettings(settings: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(settings)) {
    if (!SETTING_NAME.test(key))
      throw new HarnessError(`Invalid PostgreSQL setting name ${JSON.stringify(key)}`);
    if (IDENTITY_SETTINGS.has(key)) {
      throw new HarnessError(`Setting ${key} is managed by the harness; pass \`port\` as an option instead`);
    }
  }
}

function quoteSetting(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Makes a fresh cluster read the harness's settings file and accept replication from 127.0.0.1. */
export async function prepareConfiguration(dataDir: string): Promise<void> {
  await appendFile(
    join(dataDir, 'postgresql.conf'),
    `\n# Local service manager: listen address, port and speed settings live in ${HARNESS_CONF}.\ninclude_if_exists '${HARNESS_CONF}'\n`,
  );
  const hbaPath = join(dataDir, 'pg_hba.conf');
  const hba = await readFile(hbaPath, 'utf8');
  if (!/^host\s+replication\s+all\s+127\.0\.0\.1\/32\s+trust\s*$/m.test(hba)) {
    await appendFile(hbaPath, `\n${REPLICATION_HBA_LINE}\n`);
  }
}

/** Where a server listens: written on every start, because an unpinned port may change. */
export interface PostgresListener {
  readonly host: string;
  readonly port: number;
  /** Directory of the Unix socket (and its lock file). */
  readonly socketDir: string;
}

/** Writes the harness's settings file: the defaults, the caller's settings, then where the server listens. */
export async function writeHarnessConf(
  dataDir: string,
  settings: Readonly<Record<string, string>>,
  listener: PostgresListener,
): Promise<void> {
  const all: Record<string, string> = {
    ...DEFAULT_SETTINGS,
    ...settings,
    listen_addresses: listener.host,
    port: String(listener.port),
    unix_socket_directories: listener.socketDir,
  };
  const lines = Object.entries(all).map(([key, value]) => `${key} = ${quoteSetting(value)}`);
  const path = join(dataDir, HARNESS_CONF);
  await writeFile(path, `# Written by the local service manager on every start.\n${lines.join('\n')}\n`, {
    mode: 0o600,
  });
  await giveToPostgres(path);
}
