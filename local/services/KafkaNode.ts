import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isolatedEnv } from './binaries.js';
import { HarnessError } from './errors.js';
import { signalQuietly } from './processes.js';
import { fileSize, logTail, readFrom } from './serverFiles.js';
import { terminate, waitUntilPortClosed } from './serverLifecycle.js';
import { waitFor } from './waitFor.js';

/** Heap and JIT settings that keep a broker small and quick to start on a 2-core machine. */
export const KAFKA_JVM_OPTIONS: readonly string[] = [
  '-Xms128m',
  '-Xmx384m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
];
/** How long a node may take from `java` to "Kafka Server started". */
const START_TIMEOUT_MS = 60_000;
/** A node that lost its quorum can hang in controlled shutdown: SIGKILL after this long. */
const STOP_TIMEOUT_MS = 10_000;
const STARTED = 'Kafka Server started';

const LOG4J2_PROPERTIES = `rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
`;

/** What a node does: both (combined, a quorum voter that also serves clients), or one of them. */
export type KafkaNodeRoles = 'broker,controller' | 'broker' | 'controller';

/** The ports and paths of one node. */
export interface KafkaNodeInit {
  readonly id: number;
  readonly roles: KafkaNodeRoles;
  readonly dir: string;
  /** Inter-broker listener (also the one clients use when the cluster is not proxied); brokers only. */
  readonly internalPort: number;
  /** Controller listener; controllers only. */
  readonly controllerPort: number;
  /** Client listener, and the port advertised for it (a fault proxy's) when the cluster is proxied. */
  readonly external?: { readonly port: number; readonly advertisedPort: number };
  readonly properties: Readonly<Record<string, string>>;
  readonly java: string;
  readonly classpath: string;
}

/** One KRaft node (broker, controller or both) run as a child JVM of this process. */
export class KafkaNode {
  readonly id: number;
  readonly roles: KafkaNodeRoles;
  readonly dir: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private paused = false;

  constructor(private readonly init: KafkaNodeInit) {
    this.id = init.id;
    this.roles = init.roles;
    this.dir = init.dir;
    this.logFile = join(init.dir, 'broker.log');
  }

  /** `127.0.0.1:<port>` of the inter-broker listener: direct, never through a proxy. */
  get internalAddress(): string {
    return `127.0.0.1:${this.init.internalPort}`;
  }

  /** `127.0.0.1:<port>` clients bootstrap from: the proxy's port when proxied, else the direct one. */
  get clientAddress(): string {
    return `127.0.0.1:${this.init.external?.advertisedPort ?? this.init.internalPort}`;
  }

  get pid(): number | undefined {
    return this.isRunning() ? this.child?.pid : undefined;
  }

  /** Whether the JVM is alive (paused counts as alive). */
  isRunning(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  isPaused(): boolean {
    return this.isRunning() && this.paused;
  }

  describe(): string {
    const where = this.isBroker ? this.internalAddress : `127.0.0.1:${this.init.controllerPort}`;
    return `kafka ${this.roles} node ${this.id} on ${where} (${this.dir})`;
  }

  /** Whether the node serves clients (a broker, combined or not). */
  get isBroker(): boolean {
    return this.roles !== 'controller';
  }

  /** Writes `server.properties` and `log4j2.properties` into the node's directory. */
  async writeConfig(): Promise<void> {
    const { id, internalPort, controllerPort, external, roles } = this.init;
    const listeners: string[] = [];
    const advertised: string[] = [];
    const protocols = ['CONTROLLER:PLAINTEXT'];
    if (this.isBroker) {
      listeners.push(`INTERNAL://127.0.0.1:${internalPort}`);
      advertised.push(`INTERNAL://127.0.0.1:${internalPort}`);
      protocols.push('INTERNAL:PLAINTEXT');
    }
    if (roles !== 'broker') listeners.push(`CONTROLLER://127.0.0.1:${controllerPort}`);
    if (external !== undefined && this.isBroker) {
      listeners.push(`EXTERNAL://127.0.0.1:${external.port}`);
      advertised.push(`EXTERNAL://127.0.0.1:${external.advertisedPort}`);
      protocols.push('EXTERNAL:PLAINTEXT');
    }
    const properties: Record<string, string> = {
      'process.roles': roles,
      'node.id': String(id),
      listeners: listeners.join(','),
      ...(advertised.length > 0 ? { 'advertised.listeners': advertised.join(',') } : {}),
      'listener.security.protocol.map': protocols.join(','),
      'controller.listener.names': 'CONTROLLER',
      ...(this.isBroker ? { 'inter.broker.listener.name': 'INTERNAL' } : {}),
      'log.dirs': join(this.dir, 'data'),
      ...this.init.properties,
    };
    const text = Object.entries(properties)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n');
    await writeFile(this.propertiesFile, `${text}\n`);
    await writeFile(this.log4jFile, LOG4J2_PROPERTIES);
  }

  private get propertiesFile(): string {
    return join(this.dir, 'server.properties');
  }

  private get log4jFile(): string {
    return join(this.dir, 'log4j2.properties');
  }

  /** The JVM arguments that run `mainClass` with this node's classpath and logging. */
  jvmArgs(mainClass: string, ...args: string[]): string[] {
    return [
      ...KAFKA_JVM_OPTIONS,
      `-Dlog4j2.configurationFile=${this.log4jFile}`,
      '-cp',
      this.init.classpath,
      mainClass,
      ...args,
    ];
  }

  /**
   * Starts the JVM on the node's data (formatted beforehand) and waits for "Kafka Server started".
   * Does nothing when it already runs.
   * @throws {HarnessError} when the JVM exits or does not start in time.
   */
  async start(): Promise<void> {
    if (this.isRunning()) return;
    const offset = await fileSize(this.logFile);
    const out = openSync(this.logFile, 'a');
    try {
      const child = spawn(this.init.java, this.jvmArgs('kafka.Kafka', this.propertiesFile), {
        cwd: this.dir,
        env: isolatedEnv(),
        stdio: ['ignore', out, out],
      });
      this.child = child;
      this.paused = false;
      this.exited = new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', () => resolve());
      });
    } finally {
      closeSync(out);
    }
    await waitFor(
      async () => {
        if (!this.isRunning()) {
          throw new HarnessError(`${this.describe()} exited during startup`, {
            exitCode: this.child?.exitCode,
            signal: this.child?.signalCode,
            output: await this.logTail(40),
          });
        }
        return (await readFrom(this.logFile, offset)).includes(STARTED);
      },
      {
        timeoutMs: START_TIMEOUT_MS,
        intervalMs: 100,
        description: `${this.describe()} to log "${STARTED}"`,
        output: () => this.logTail(40),
      },
    );
  }

  /**
   * Graceful stop (SIGTERM: controlled shutdown, leadership moved away), SIGKILL after 10 s.
   * A paused node is resumed first so it can shut down.
   */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    if (this.paused) this.resume();
    await terminate((signal) => signalQuietly(pid, signal), this.exited, STOP_TIMEOUT_MS);
  }

  /** A crash: SIGKILL, then waits until the client port refuses connections. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    signalQuietly(pid, 'SIGKILL');
    await this.exited;
    this.paused = false;
    const port = this.isBroker ? this.init.internalPort : this.init.controllerPort;
    await waitUntilPortClosed(port, this.describe(), 5_000);
  }

  /** A hung broker: SIGSTOP. Its sockets stay open and answer nothing. */
  pause(): void {
    const pid = this.pid;
    if (pid === undefined || this.paused) return;
    signalQuietly(pid, 'SIGSTOP');
    this.paused = true;
  }

  /** SIGCONT after {@link pause}. */
  resume(): void {
    const pid = this.pid;
    if (pid === undefined || !this.paused) return;
    signalQuietly(pid, 'SIGCONT');
    this.paused = false;
  }

  /** Synchronous last resort at process exit. */
  killSync(): void {
    const pid = this.pid;
    if (pid !== undefined) signalQuietly(pid, 'SIGKILL');
  }

  async logTail(lines = 30): Promise<string> {
    return logTail(this.logFile, lines);
  }
}
