import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { postgresBinary, removeScratchDir, removeScratchDirSync, runCommand } from './binaries.js';
import { HarnessError, isHarnessError } from './errors.js';
import { assertNotReserved, LOOPBACK } from './freePort.js';
import { assertSettings, prepareConfiguration, writeHarnessConf } from './postgresConfig.js';
import { createMissingDatabases, queryOnce } from './postgresQueries.js';
import { baseBackup, waitForRecovery } from './postgresReplication.js';
import {
  isPostmasterOf,
  killPostmaster,
  killPostmasterSync,
  readPostmasterPid,
  removePostmasterLocks,
} from './postmaster.js';
import { type ManagedServer, untrackServer } from './registry.js';
import { fileSize, logTail, readFrom } from './serverFiles.js';
import {
  placeServer,
  type ServerPlace,
  startRetryingPort,
  startTracked,
  waitUntilPortClosed,
} from './serverLifecycle.js';
import { waitFor } from './waitFor.js';

/** Options for {@link PostgresServer.start}. */
export interface PostgresStartOptions {
  /** Port to listen on; a free one unless told. A given port is kept even when it is busy (start then fails). */
  readonly port?: number;
  /** Short label used in the temp dir name and error messages. */
  readonly name?: string;
  /** Extra `postgresql.conf` settings, e.g. `{ max_connections: '50' }`; they override the harness defaults. */
  readonly settings?: Readonly<Record<string, string>>;
}

/** Options for {@link PostgresServer.createStandby}. */
export interface PostgresStandbyOptions {
  /** Port for the standby; a free one unless told. */
  readonly port?: number;
  /** Short label; `<primary name>-standby` unless told. */
  readonly name?: string;
}

/** `fast` rolls back open transactions and checkpoints; `immediate` aborts without a checkpoint (crash-like). */
export type PostgresStopMode = 'fast' | 'immediate';

interface PostgresServerInit {
  readonly name: string;
  readonly place: ServerPlace;
  readonly settings: Readonly<Record<string, string>>;
}

const READY_TIMEOUT_MS = 30_000;
const PG_CTL_TIMEOUT_SECONDS = '60';
const BIND_FAILURE = /could not bind|address already in use|could not create any TCP\/IP sockets/i;

/**
 * Over 300 lines on purpose: this class is the harness's documented face (each method is an operation the
 * tests call); the mechanics live in `postgresConfig`, `postgresQueries`, `postgresReplication`,
 * `postmaster` and `serverLifecycle`.
 *
 * A throwaway PostgreSQL server started from the system binaries in its own temp dir, on 127.0.0.1 and a
 * free port (never 5432). Runs as the `postgres` OS user when this process is root. Every instance is
 * tracked so {@link destroyAll} and the process exit hooks remove it.
 */
export class PostgresServer implements ManagedServer {
  /** Always the loopback address. */
  readonly host = LOOPBACK;
  /** Label from the options, used in the temp dir name and errors. */
  readonly name: string;
  /** Temp dir holding the data dir, the Unix socket and the log file; removed by {@link destroy}. */
  readonly rootDir: string;
  /** The PostgreSQL data directory (`PGDATA`). */
  readonly dataDir: string;
  /** Server log (stderr of the postmaster), appended across restarts. */
  readonly logFile: string;

  private currentPort: number;
  /** True once the port must not change: given by the caller, or the server has run on it. */
  private portPinned: boolean;
  private readonly settings: Readonly<Record<string, string>>;
  private postmasterPid: number | undefined;
  private destroyed = false;

  private constructor(init: PostgresServerInit) {
    this.name = init.name;
    this.rootDir = init.place.dir;
    this.dataDir = join(init.place.dir, 'data');
    this.logFile = join(init.place.dir, 'postgres.log');
    this.currentPort = init.place.port;
    this.portPinned = init.place.portFixed;
    this.settings = init.settings;
  }

  /**
   * Creates a fresh cluster (`initdb --no-sync -A trust -U postgres`) in a new temp dir, starts it and waits
   * until `SELECT`s succeed. On failure the temp dir is removed before the error is thrown.
   * @throws {HarnessError} when a binary is missing, initdb or pg_ctl fails, or the server does not get ready.
   */
  static async start(options: PostgresStartOptions = {}): Promise<PostgresServer> {
    const settings = { ...options.settings };
    assertSettings(settings);
    if (options.port !== undefined) assertNotReserved(options.port);
    const initdb = await postgresBinary('initdb');
    const name = options.name ?? 'postgres';
    const place = await placeServer(`cdp-pg-${name}`, options.port, { forPostgres: true });
    const server = new PostgresServer({ name, place, settings });
    return startTracked(server, async () => {
      await runCommand(
        initdb,
        ['-D', server.dataDir, '--no-sync', '-A', 'trust', '-U', 'postgres', '--encoding=UTF8', '--locale=C'],
        { asPostgres: true, cwd: server.rootDir },
      );
      await prepareConfiguration(server.dataDir);
      await server.start();
    });
  }

  /** The TCP port the server listens on (stays the same across restarts). */
  get port(): number {
    return this.currentPort;
  }

  /** PID of the postmaster (from `postmaster.pid`), or undefined when the server is not running. */
  get pid(): number | undefined {
    return this.isRunning() ? this.postmasterPid : undefined;
  }

  /** Connection URL for `database` as the `postgres` superuser (no password: the cluster trusts 127.0.0.1). */
  url(database = 'postgres'): string {
    return `postgres://postgres@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  /** Identity for error messages. */
  describe(): string {
    return `postgres ${this.name} on ${this.host}:${this.port} (${this.rootDir})`;
  }

  /**
   * Runs one statement on a fresh connection as `postgres` and closes it.
   * @throws {Error} whatever `pg` raises (connection refused, SQL errors).
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: readonly unknown[] = [],
    database = 'postgres',
  ): Promise<pg.QueryResult<R>> {
    return queryOnce<R>({ host: this.host, port: this.port, database }, sql, params);
  }

  /**
   * Creates each database that does not exist yet.
   * @throws {HarnessError} for a name that is not a plain lower-case identifier.
   * @throws {Error} when PostgreSQL rejects the statement.
   */
  async createDatabases(names: readonly string[]): Promise<void> {
    await createMissingDatabases((sql, params) => this.query(sql, params), names);
  }

  /**
   * Creates `<prefix>_0` … `<prefix>_<count-1>` and returns their URLs in shard order.
   * @throws {HarnessError} when `count` is not a positive integer or the prefix is not an identifier.
   */
  async createShardDatabases(count: number, prefix = 'shard'): Promise<string[]> {
    if (!Number.isInteger(count) || count < 1) {
      throw new HarnessError(`Shard count must be a positive integer, got ${count}`);
    }
    const names = Array.from({ length: count }, (_, index) => `${prefix}_${index}`);
    await this.createDatabases(names);
    return names.map((name) => this.url(name));
  }

  /**
   * Reports whether the server is a standby still replaying WAL (`pg_is_in_recovery()`).
   * @throws {Error} when the server cannot be queried.
   */
  async isInRecovery(): Promise<boolean> {
    const result = await this.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
    return result.rows[0]?.in_recovery === true;
  }

  /**
   * Clones this running server with `pg_basebackup -R -X stream` into a new temp dir and starts the copy as a
   * streaming standby on its own port; resolves once it accepts connections and is in recovery.
   * @throws {HarnessError} when this server is not running, or pg_basebackup / the standby start fails.
   */
  async createStandby(options: PostgresStandbyOptions = {}): Promise<PostgresServer> {
    if (!this.isRunning()) throw new HarnessError(`Cannot clone ${this.describe()}: it is not running`);
    if (options.port !== undefined) assertNotReserved(options.port);
    const name = options.name ?? `${this.name}-standby`;
    const place = await placeServer(`cdp-pg-${name}`, options.port, { forPostgres: true });
    const standby = new PostgresServer({ name, place, settings: this.settings });
    return startTracked(standby, async () => {
      await baseBackup(this, standby);
      await standby.start();
      await waitForRecovery(standby, true, READY_TIMEOUT_MS);
    });
  }

  /**
   * Promotes a standby to a primary and waits until `pg_is_in_recovery()` is false.
   * @throws {HarnessError} when the server is not running, is not a standby, or promotion fails.
   */
  async promote(): Promise<void> {
    if (!this.isRunning()) throw new HarnessError(`Cannot promote ${this.describe()}: it is not running`);
    if (!(await this.isInRecovery())) {
      throw new HarnessError(`Cannot promote ${this.describe()}: it is not a standby`);
    }
    await this.pgCtl(['promote', '-D', this.dataDir, '-w', '-t', PG_CTL_TIMEOUT_SECONDS, '-s']);
    await waitForRecovery(this, false, READY_TIMEOUT_MS);
  }

  /**
   * Starts the server again on the same port and data dir (after {@link stop} or {@link kill}; a killed
   * server runs crash recovery). Does nothing when it is already running.
   * @throws {HarnessError} when the server was destroyed, pg_ctl fails, or it does not get ready.
   */
  async start(): Promise<void> {
    if (this.destroyed) throw new HarnessError(`Cannot start ${this.describe()}: it was destroyed`);
    if (this.isRunning()) return;
    if (this.postmasterPid !== undefined) await this.forgetDeadPostmaster();
    let logOffset: number | undefined;
    await startRetryingPort({
      pinned: this.portPinned,
      attempt: async () => {
        logOffset = undefined;
        await writeHarnessConf(this.dataDir, this.settings, {
          host: this.host,
          port: this.port,
          socketDir: this.rootDir,
        });
        logOffset = await fileSize(this.logFile);
        await this.pgCtl([
          'start',
          '-D',
          this.dataDir,
          '-l',
          this.logFile,
          '-w',
          '-t',
          PG_CTL_TIMEOUT_SECONDS,
          '-s',
        ]);
      },
      // Another process took the port between freePort() and bind(), or the old socket lingers.
      portTaken: async () =>
        logOffset !== undefined && BIND_FAILURE.test(await readFrom(this.logFile, logOffset)),
      movePort: (port) => {
        this.currentPort = port;
      },
    });
    this.postmasterPid = await this.startedPostmasterPid();
    this.portPinned = true;
    await this.waitUntilQueryable();
  }

  /**
   * Stops the server with `pg_ctl stop -m <mode>` and waits until the port is closed. No-op when not running.
   * @throws {HarnessError} when pg_ctl fails.
   */
  async stop(mode: PostgresStopMode = 'fast'): Promise<void> {
    if (!this.isRunning()) {
      if (this.postmasterPid !== undefined) await this.forgetDeadPostmaster();
      return;
    }
    await this.pgCtl(['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', PG_CTL_TIMEOUT_SECONDS, '-s']);
    this.postmasterPid = undefined;
    await this.waitUntilPortClosed();
  }

  /**
   * Stops (fast) and starts again on the same port and data dir.
   * @throws {HarnessError} when stopping or starting fails.
   */
  async restart(): Promise<void> {
    await this.stop('fast');
    await this.start();
  }

  /**
   * Simulates a crash: SIGKILLs the postmaster, waits until the port refuses connections and until the
   * postmaster's former children (which notice their parent's death) have exited, SIGKILLing stragglers.
   * Leaves the data dir as a crash would, so {@link start} runs crash recovery. No-op when not running.
   * @throws {HarnessError} when the processes do not go away.
   */
  async kill(): Promise<void> {
    const pid = this.postmasterPid;
    if (pid === undefined) return;
    if (this.isOurPostmaster(pid)) {
      await killPostmaster(pid, this.describe(), () => this.waitUntilPortClosed());
    }
    await this.forgetDeadPostmaster();
  }

  /** Reports whether the postmaster this harness started is alive. */
  isRunning(): boolean {
    return this.postmasterPid !== undefined && this.isOurPostmaster(this.postmasterPid);
  }

  /**
   * Stops the server (immediate; SIGKILL if that fails) and removes its temp dir. Safe to call twice.
   * @throws {HarnessError} when the temp dir cannot be removed.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      await this.stop('immediate');
    } catch {
      await this.kill().catch(() => undefined);
    }
    if (this.isRunning()) this.killSync();
    untrackServer(this);
    await removeScratchDir(this.rootDir);
  }

  /** Synchronous last resort for process exit: SIGKILL the postmaster and its children, remove the temp dir. */
  killSync(): void {
    const pid = this.postmasterPid;
    if (pid !== undefined && this.isOurPostmaster(pid)) killPostmasterSync(pid);
    this.postmasterPid = undefined;
    this.destroyed = true;
    removeScratchDirSync(this.rootDir);
  }

  /** The last `lines` lines of the server log. */
  async logTail(lines = 30): Promise<string> {
    return logTail(this.logFile, lines);
  }

  /**
   * Clears the PID of a postmaster that died without `pg_ctl stop` and removes its lock files: a dead but not yet
   * reaped postmaster still "exists" for `kill(pid, 0)`, which would make the next start refuse them.
   */
  private async forgetDeadPostmaster(): Promise<void> {
    this.postmasterPid = undefined;
    await removePostmasterLocks(this.dataDir, this.rootDir, this.port);
  }

  private isOurPostmaster(pid: number): boolean {
    return isPostmasterOf(pid, this.dataDir);
  }

  private async pgCtl(args: readonly string[]): Promise<void> {
    const pgCtl = await postgresBinary('pg_ctl');
    try {
      await runCommand(pgCtl, args, { asPostgres: true, cwd: this.rootDir });
    } catch (error: unknown) {
      if (!isHarnessError(error)) throw error;
      const output = [error.output, '--- server log ---', await this.logTail(20)].join('\n');
      throw new HarnessError(`pg_ctl ${args[0] ?? ''} failed for ${this.describe()}`, {
        command: error.command,
        exitCode: error.exitCode,
        signal: error.signal,
        output,
        cause: error,
      });
    }
  }

  private async startedPostmasterPid(): Promise<number> {
    const pid = await readPostmasterPid(this.dataDir);
    if (pid === undefined) {
      const path = join(this.dataDir, 'postmaster.pid');
      throw new HarnessError(`pg_ctl reported ${this.describe()} started, but ${path} holds no PID`, {
        output: await this.logTail(),
      });
    }
    return pid;
  }

  private async waitUntilQueryable(): Promise<void> {
    const expectedDataDir = await realpath(this.dataDir);
    await waitFor(
      async () => {
        if (!this.isRunning()) {
          throw new HarnessError(`${this.describe()} exited while starting`, {
            output: await this.logTail(),
          });
        }
        try {
          const result = await this.query<{ data_directory: string }>('SHOW data_directory');
          const reported = result.rows[0]?.data_directory ?? '';
          // Guards against talking to some other server that holds the port.
          return (await realpath(reported).catch(() => reported)) === expectedDataDir;
        } catch {
          return false;
        }
      },
      {
        timeoutMs: READY_TIMEOUT_MS,
        description: `${this.describe()} to accept queries`,
        output: () => this.logTail(),
      },
    );
  }

  private async waitUntilPortClosed(): Promise<void> {
    await waitUntilPortClosed(this.port, this.describe(), 10_000);
  }
}
