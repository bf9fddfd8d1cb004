import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  formatCommand,
  isolatedEnv,
  redisServerBinary,
  removeScratchDir,
  removeScratchDirSync,
} from './binaries.js';
import { HarnessError, tailLines } from './errors.js';
import { assertNotReserved, LOOPBACK } from './freePort.js';
import { probeProcessId } from './redisProbe.js';
import { type ManagedServer, untrackServer } from './registry.js';
import { fileSize, logTail, readFrom } from './serverFiles.js';
import {
  placeServer,
  startRetryingPort,
  startTracked,
  terminate,
  waitUntilPortClosed,
} from './serverLifecycle.js';
import { waitFor } from './waitFor.js';

/** Options for {@link RedisServer.start}. */
export interface RedisStartOptions {
  /** Port to listen on; a free one unless told. */
  readonly port?: number;
  /** Extra `redis-server` arguments, appended after the harness defaults (so they win), e.g. `['--maxmemory', '64mb']`. */
  readonly args?: readonly string[];
  /** Short label used in the temp dir name and error messages. */
  readonly name?: string;
}

interface RedisServerInit {
  readonly name: string;
  readonly binary: string;
  readonly dir: string;
  readonly port: number;
  readonly portFixed: boolean;
  readonly args: readonly string[];
}

type RedisChild = ChildProcessByStdio<null, null, Readable>;

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const STDERR_LIMIT = 16 * 1024;
const ADDRESS_IN_USE = /address already in use/i;

/**
 * A throwaway `redis-server` run as a child process of this process, on 127.0.0.1 and a free port (never
 * 6379), without persistence, in its own temp dir. Every instance is tracked so {@link destroyAll} and the
 * process exit hooks remove it.
 */
export class RedisServer implements ManagedServer {
  /** Always the loopback address. */
  readonly host = LOOPBACK;
  /** Label from the options, used in the temp dir name and errors. */
  readonly name: string;
  /** Temp dir used as Redis' working dir and for its log file; removed by {@link destroy}. */
  readonly dir: string;
  /** Redis log file, appended across restarts. */
  readonly logFile: string;

  private readonly binary: string;
  private readonly extraArgs: readonly string[];
  /** True once the port must not change: given by the caller, or the server has run on it. */
  private portPinned: boolean;
  private currentPort: number;
  private child: RedisChild | undefined;
  private exited: Promise<void> = Promise.resolve();
  private spawnError: Error | undefined;
  private stderr = '';
  private destroyed = false;

  private constructor(init: RedisServerInit) {
    this.name = init.name;
    this.binary = init.binary;
    this.dir = init.dir;
    this.logFile = join(init.dir, 'redis.log');
    this.currentPort = init.port;
    this.portPinned = init.portFixed;
    this.extraArgs = init.args;
  }

  /**
   * Starts `redis-server` in a new temp dir and waits until it answers `PING` (and `INFO` shows its own PID).
   * On failure the temp dir is removed before the error is thrown.
   * @throws {HarnessError} when the binary is missing, the server exits, or it does not get ready.
   */
  static async start(options: RedisStartOptions = {}): Promise<RedisServer> {
    if (options.port !== undefined) assertNotReserved(options.port);
    const binary = await redisServerBinary();
    const name = options.name ?? 'redis';
    const place = await placeServer(`cdp-redis-${name}`, options.port);
    const server = new RedisServer({
      name,
      binary,
      dir: place.dir,
      port: place.port,
      portFixed: place.portFixed,
      args: [...(options.args ?? [])],
    });
    return startTracked(server, () => server.start());
  }

  /** The TCP port the server listens on (stays the same across restarts). */
  get port(): number {
    return this.currentPort;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  /** PID of the redis-server child process, or undefined when it is not running. */
  get pid(): number | undefined {
    return this.isRunning() ? this.child?.pid : undefined;
  }

  /** Identity for error messages. */
  describe(): string {
    return `redis ${this.name} on ${this.host}:${this.port} (${this.dir})`;
  }

  /**
   * Starts the server again on the same port (after {@link stop} or {@link kill}), retrying briefly while the
   * port is still taken. Does nothing when it is already running.
   * @throws {HarnessError} when the server was destroyed, exits during startup, or does not get ready.
   */
  async start(): Promise<void> {
    if (this.destroyed) throw new HarnessError(`Cannot start ${this.describe()}: it was destroyed`);
    if (this.isRunning()) return;
    let logOffset = 0;
    await startRetryingPort({
      pinned: this.portPinned,
      attempt: async () => {
        logOffset = await fileSize(this.logFile);
        this.launch();
        await this.waitUntilReady();
      },
      portTaken: async () => {
        await this.killProcess();
        return ADDRESS_IN_USE.test(`${this.stderr}\n${await readFrom(this.logFile, logOffset)}`);
      },
      movePort: (port) => {
        this.currentPort = port;
      },
    });
    this.portPinned = true;
  }

  /**
   * Stops the server gracefully (SIGTERM; without persistence nothing is saved) and waits for the process to
   * exit, SIGKILLing it after 10 s. No-op when not running.
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.isRunning()) return;
    await terminate((signal) => child.kill(signal), this.exited, STOP_TIMEOUT_MS);
  }

  /**
   * Simulates a crash: SIGKILLs the process, waits for it to exit and for the port to refuse connections.
   * No-op when not running.
   * @throws {HarnessError} when the port stays open.
   */
  async kill(): Promise<void> {
    if (!this.isRunning()) return;
    await this.killProcess();
    await waitUntilPortClosed(this.port, this.describe(), 5_000);
  }

  /**
   * Stops gracefully and starts again on the same port.
   * @throws {HarnessError} when the restart fails.
   */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Reports whether the redis-server child process is alive. */
  isRunning(): boolean {
    const child = this.child;
    return (
      child !== undefined &&
      this.spawnError === undefined &&
      child.exitCode === null &&
      child.signalCode === null
    );
  }

  /**
   * Stops the server and removes its temp dir. Safe to call twice.
   * @throws {HarnessError} when the temp dir cannot be removed.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.stop();
    untrackServer(this);
    await removeScratchDir(this.dir);
  }

  /** Synchronous last resort for process exit: SIGKILL the child process and remove the temp dir. */
  killSync(): void {
    if (this.isRunning()) this.child?.kill('SIGKILL');
    this.destroyed = true;
    removeScratchDirSync(this.dir);
  }

  /** The last `lines` lines of the server log. */
  async logTail(lines = 30): Promise<string> {
    return logTail(this.logFile, lines);
  }

  private async killProcess(): Promise<void> {
    if (!this.isRunning()) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  private args(): string[] {
    return [
      '--port',
      String(this.port),
      '--bind',
      this.host,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      this.dir,
      '--logfile',
      this.logFile,
      ...this.extraArgs,
    ];
  }

  private launch(): void {
    const child = spawn(this.binary, this.args(), {
      cwd: this.dir,
      env: isolatedEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    this.spawnError = undefined;
    this.stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_LIMIT);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (error: Error) => {
        this.spawnError = error;
        resolve();
      });
    });
  }

  private async waitUntilReady(): Promise<void> {
    await waitFor(
      async () => {
        const child = this.child;
        if (child === undefined || !this.isRunning()) {
          throw new HarnessError(`${this.describe()} exited during startup`, {
            command: formatCommand(this.binary, this.args()),
            exitCode: child?.exitCode,
            signal: child?.signalCode,
            output: tailLines(`${this.spawnError?.message ?? ''}\n${this.stderr}\n${await this.logTail(15)}`),
            cause: this.spawnError,
          });
        }
        // Another server answering on the port (we lost a bind race) does not count; our child will exit.
        return (await probeProcessId(this.port)) === child.pid;
      },
      {
        timeoutMs: READY_TIMEOUT_MS,
        description: `${this.describe()} to answer PING`,
        output: () => this.logTail(),
      },
    );
  }
}
