// Over 300 lines on purpose: finding the system's PostgreSQL and Redis binaries, the postgres OS user, its
// scratch dirs and running commands as that user depend on one another and on the cached bin dir and user
// lookups.
import { execFile, spawn } from 'node:child_process';
import { constants, rmSync } from 'node:fs';
import { access, chmod, chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { describeError, HarnessError, isErrnoException, tailLines } from './errors.js';

const execFileAsync = promisify(execFile);

/** Where Debian/Ubuntu's `postgresql` packages install each major version's server binaries. */
const DEBIAN_POSTGRES_ROOT = '/usr/lib/postgresql';
const OUTPUT_LIMIT = 64 * 1024;

/** Numeric user and group of an OS account. */
export interface OsUser {
  readonly uid: number;
  readonly gid: number;
}

/** Options for {@link runCommand}. */
export interface RunCommandOptions {
  /** Run as the `postgres` OS user (only takes effect when this process is root). */
  readonly asPostgres?: boolean;
  /** Working directory; the system temp dir unless told (the `postgres` user may not read the project). */
  readonly cwd?: string;
  /** Kill the command with SIGTERM after this many milliseconds; 120 s unless told. */
  readonly timeoutMs?: number;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Captured output of a command that exited with status 0. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Reports whether this process runs as root (PostgreSQL refuses to run as root). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether `path` is a file this process may execute. */
export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` in a directory of PATH, or undefined. */
export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && (await isExecutable(join(dir, name)))) return join(dir, name);
  }
  return undefined;
}

async function debianBinDirs(): Promise<string[]> {
  let versions: string[];
  try {
    versions = await readdir(DEBIAN_POSTGRES_ROOT);
  } catch {
    return [];
  }
  return versions
    .filter((version) => /^\d+(\.\d+)?$/.test(version))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(DEBIAN_POSTGRES_ROOT, version, 'bin'));
}

async function pgConfigBinDir(): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('pg_config', ['--bindir'], { timeout: 10_000 });
    const dir = stdout.trim();
    return dir === '' ? undefined : dir;
  } catch {
    return undefined;
  }
}

async function locatePostgresBinDir(): Promise<string> {
  const candidates = await debianBinDirs();
  const fromPgConfig = await pgConfigBinDir();
  if (fromPgConfig !== undefined) candidates.push(fromPgConfig);
  for (const dir of candidates) {
    if (await isExecutable(join(dir, 'initdb'))) return dir;
  }
  const onPath = await findOnPath('initdb');
  if (onPath !== undefined) return join(onPath, '..');
  throw new HarnessError(
    'PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin, `pg_config --bindir` and PATH); ' +
      'install them with `apt-get install postgresql`',
    { output: `searched: ${[...candidates, 'PATH'].join(', ')}` },
  );
}

let postgresBinDirPromise: Promise<string> | undefined;

/**
 * Directory of the PostgreSQL server binaries: the highest `/usr/lib/postgresql/<major>/bin`,
 * else `pg_config --bindir`, else the directory of `initdb` on PATH. The result is cached.
 * @throws {HarnessError} when no directory holds an executable `initdb`.
 */
export function postgresBinDir(): Promise<string> {
  postgresBinDirPromise ??= locatePostgresBinDir().catch((error: unknown) => {
    postgresBinDirPromise = undefined;
    throw error;
  });
  return postgresBinDirPromise;
}

/**
 * Absolute path of one PostgreSQL binary such as `pg_ctl` or `pg_basebackup`.
 * @throws {HarnessError} when the binary directory or the binary itself is missing.
 */
export async function postgresBinary(name: string): Promise<string> {
  const path = join(await postgresBinDir(), name);
  if (!(await isExecutable(path))) {
    throw new HarnessError(`PostgreSQL binary ${name} not found or not executable at ${path}`);
  }
  return path;
}

/**
 * Absolute path of `redis-server`: `/usr/bin/redis-server`, else the first one on PATH.
 * @throws {HarnessError} when it is missing.
 */
export async function redisServerBinary(): Promise<string> {
  if (await isExecutable('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  const onPath = await findOnPath('redis-server');
  if (onPath !== undefined) return onPath;
  throw new HarnessError(
    'redis-server not found in /usr/bin or on PATH; install it with `apt-get install redis-server`',
  );
}

let postgresUserPromise: Promise<OsUser | undefined> | undefined;

async function lookUpPostgresUser(): Promise<OsUser | undefined> {
  if (!isRoot()) return undefined;
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', 'postgres'], { timeout: 10_000 }),
      execFileAsync('id', ['-g', 'postgres'], { timeout: 10_000 }),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (error: unknown) {
    throw new HarnessError(
      'Running as root, but there is no `postgres` OS user to run PostgreSQL as (it is created by `apt-get install postgresql`)',
      { command: 'id -u postgres', cause: error },
    );
  }
}

/**
 * The `postgres` OS user that PostgreSQL commands run as when this process is root; undefined when not root
 * (then the commands run as the current user). The result is cached.
 * @throws {HarnessError} when running as root and the user does not exist.
 */
export function postgresOsUser(): Promise<OsUser | undefined> {
  postgresUserPromise ??= lookUpPostgresUser().catch((error: unknown) => {
    postgresUserPromise = undefined;
    throw error;
  });
  return postgresUserPromise;
}

/**
 * Creates a fresh directory under the system temp dir. With `forPostgres`, hands it to the `postgres`
 * OS user (when root) so PostgreSQL can create its data dir, socket and log file inside.
 * @throws {HarnessError} when the directory cannot be created or handed over.
 */
export async function createScratchDir(
  prefix: string,
  options: { forPostgres?: boolean } = {},
): Promise<string> {
  const safePrefix = prefix.replace(/[^A-Za-z0-9_-]/g, '-');
  const dir = await mkdtemp(join(tmpdir(), `${safePrefix}-`));
  if (!options.forPostgres) return dir;
  try {
    const user = await postgresOsUser();
    if (user !== undefined) await chown(dir, user.uid, user.gid);
    await chmod(dir, 0o700);
  } catch (error: unknown) {
    throw new HarnessError(`Could not hand ${dir} over to the postgres OS user`, { cause: error });
  }
  return dir;
}

/**
 * Removes a directory made by {@link createScratchDir} and everything in it.
 * @throws {HarnessError} when it cannot be removed.
 */
export async function removeScratchDir(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (error: unknown) {
    throw new HarnessError(`Could not remove ${dir}: ${describeError(error)}`, { cause: error });
  }
}

/** Synchronous, best-effort {@link removeScratchDir} for process exit, where nothing can be awaited. */
export function removeScratchDirSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // Best effort during exit.
  }
}

/**
 * Hands a file created by this process to the `postgres` OS user (when root).
 * @throws {HarnessError} when chown fails.
 */
export async function giveToPostgres(path: string): Promise<void> {
  const user = await postgresOsUser();
  if (user === undefined) return;
  try {
    await chown(path, user.uid, user.gid);
  } catch (error: unknown) {
    throw new HarnessError(`Could not chown ${path} to the postgres OS user`, { cause: error });
  }
}

/** Environment for child commands: PG* variables are dropped so nothing is pointed at the machine's own server. */
export function isolatedEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && value !== undefined) env[key] = value;
  }
  return { ...env, ...extra };
}

function appendCapped(buffer: string, chunk: string): string {
  const next = buffer + chunk;
  return next.length > OUTPUT_LIMIT ? next.slice(-OUTPUT_LIMIT) : next;
}

function quoteArg(arg: string): string {
  return /^[\w./=:@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Renders a command line for error messages. */
export function formatCommand(file: string, args: readonly string[], asUser?: string): string {
  const line = [file, ...args].map(quoteArg).join(' ');
  return asUser === undefined ? line : `(as ${asUser}) ${line}`;
}

/**
 * Runs a command to completion, capturing its output; with `asPostgres`, as the `postgres` OS user when root.
 * @throws {HarnessError} when the binary is missing, the command exits non-zero, is killed, or times out.
 */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const user = options.asPostgres ? await postgresOsUser() : undefined;
  const command = formatCommand(file, args, user === undefined ? undefined : 'postgres');
  const timeoutMs = options.timeoutMs ?? 120_000;
  const env = isolatedEnv({ ...(user === undefined ? {} : { HOME: tmpdir() }), ...options.env });
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      cwd: options.cwd ?? tmpdir(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = appendCapped(stdout, chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = appendCapped(stderr, chunk);
    });
    child.once('error', (error: Error) => {
      const missing = isErrnoException(error) && error.code === 'ENOENT';
      reject(
        new HarnessError(
          missing ? `Binary not found: ${file}` : `Could not start ${file}: ${error.message}`,
          {
            command,
            cause: error,
          },
        ),
      );
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const timedOut = signal === 'SIGTERM' && code === null;
      reject(
        new HarnessError(timedOut ? `Command timed out after ${timeoutMs} ms` : 'Command failed', {
          command,
          exitCode: code,
          signal,
          output: tailLines(`${stdout}\n${stderr}`),
        }),
      );
    });
  });
}
