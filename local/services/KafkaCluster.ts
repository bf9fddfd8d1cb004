// Over 300 lines on purpose: the cluster's documented face (start, admin, restart, waits, destroy), which the
// tests and drills call; one node's mechanics live in KafkaNode, the distribution in kafkaDistribution.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import kafkajs, { type Admin, type KafkaConfig } from 'kafkajs';
import { FaultProxy } from '../faults/FaultProxy.js';
import { createScratchDir, removeScratchDir, removeScratchDirSync, runCommand } from './binaries.js';
import { HarnessError } from './errors.js';
import { freePort } from './freePort.js';
import { KafkaNode, type KafkaNodeRoles } from './KafkaNode.js';
import { javaBinary, kafkaDistribution } from './kafkaDistribution.js';
import { type ManagedServer, trackServer, untrackServer } from './registry.js';
import { waitFor } from './waitFor.js';

const { Kafka, logLevel } = kafkajs;

/** Options for {@link KafkaCluster.start}. */
export interface KafkaClusterOptions {
  /** Brokers: 1, or 3 so that RF 3 / min ISR 2 holds (default 1). */
  readonly nodes?: 1 | 3;
  /**
   * `combined` (default): every node is broker and controller, a static quorum of all nodes.
   * `dedicated`: one more node is the only controller, as Amazon MSK keeps its KRaft controllers apart
   * from the brokers; losing two of three brokers then leaves the metadata quorum up, so partitions can
   * shrink their ISR and producers with acks=all get NOT_ENOUGH_REPLICAS instead of timeouts.
   */
  readonly controllers?: 'combined' | 'dedicated';
  /** Short label for the temp dir and error messages. */
  readonly name?: string;
  /**
   * Puts a {@link FaultProxy} in front of each broker's client listener and advertises the proxy's port,
   * so a test can cut clients off the brokers while replication between the brokers goes on.
   */
  readonly proxied?: boolean;
  /** Broker properties that override the defaults below. */
  readonly properties?: Readonly<Record<string, string>>;
}

/** The node id of the dedicated controller, apart from the brokers' 1..n. */
const DEDICATED_CONTROLLER_ID = 100;
/** Fresh sets of ports tried when one was taken before a broker bound it. */
const START_ATTEMPTS = 3;
/** How long every node may take to show up in the cluster's metadata after the JVMs started. */
const READY_TIMEOUT_MS = 60_000;

/**
 * Broker settings for a throwaway cluster that behaves like Amazon MSK where it matters (no auto-created
 * topics, no unclean elections, replication and min ISR by cluster size) and starts quickly on 2 cores.
 */
function defaultProperties(nodes: number): Record<string, string> {
  const replicas = String(nodes);
  const minIsr = nodes >= 3 ? '2' : '1';
  return {
    'auto.create.topics.enable': 'false',
    'unclean.leader.election.enable': 'false',
    'default.replication.factor': replicas,
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': replicas,
    'offsets.topic.num.partitions': '6',
    'transaction.state.log.replication.factor': replicas,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': '4',
    'share.coordinator.state.topic.replication.factor': replicas,
    'share.coordinator.state.topic.min.isr': minIsr,
    'group.initial.rebalance.delay.ms': '0',
    'log.cleaner.dedupe.buffer.size': '2097152',
    'num.network.threads': '2',
    'num.io.threads': '2',
    'num.partitions': '1',
    // A stopped broker drops out of the ISR quickly, so min-ISR effects show within a drill.
    'replica.lag.time.max.ms': '10000',
    // A killed broker is fenced (and its partitions' leadership moved) within seconds, not MSK's 9 s default.
    'broker.session.timeout.ms': '4000',
    'broker.heartbeat.interval.ms': '1000',
    'log.segment.bytes': String(64 * 1024 * 1024),
  };
}

/**
 * A base64url UUID as Kafka's `StorageTool random-uuid` prints it, without starting a JVM. Like Kafka's
 * own, never one that starts with '-': the storage tool's argument parser would take it for an option
 * (seen in CI: "argument --cluster-id/-t: expected one argument").
 */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * A throwaway Apache Kafka cluster in KRaft mode on 127.0.0.1: 1 or 3 combined broker + controller nodes
 * with a static quorum, each a child JVM with its own data dir and free ports. Nodes can be stopped
 * (SIGTERM), killed (SIGKILL), paused and resumed (SIGSTOP/SIGCONT: a hung broker) and started again on
 * their data. Tracked, so {@link destroyAll} and the exit hooks remove it.
 */
export class KafkaCluster implements ManagedServer {
  readonly name: string;
  readonly clusterId: string;
  private destroyed = false;

  private constructor(
    readonly dir: string,
    readonly nodes: readonly KafkaNode[],
    readonly proxies: ReadonlyMap<number, FaultProxy>,
    readonly version: string,
    name: string,
    clusterId: string,
  ) {
    this.name = name;
    this.clusterId = clusterId;
  }

  /**
   * Formats and starts every node, then waits until the cluster's metadata lists all of them. A port
   * taken between choosing it and the broker binding it starts the cluster over on fresh ports.
   * @throws {HarnessError} when Java or the broker jars are missing, or a node does not start.
   */
  static async start(options: KafkaClusterOptions = {}): Promise<KafkaCluster> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await KafkaCluster.startOnce(options);
      } catch (error: unknown) {
        const portTaken = error instanceof HarnessError && /Address already in use/.test(error.output);
        if (!portTaken || attempt >= START_ATTEMPTS) throw error;
      }
    }
  }

  private static async startOnce(options: KafkaClusterOptions): Promise<KafkaCluster> {
    const java = await javaBinary();
    const distribution = await kafkaDistribution();
    const count = options.nodes ?? 1;
    const dedicated = options.controllers === 'dedicated';
    const name = options.name ?? 'kafka';
    const dir = await createScratchDir(`cdp-kafka-${name}`);
    const brokerIds = Array.from({ length: count }, (_, index) => index + 1);
    const ids = dedicated ? [...brokerIds, DEDICATED_CONTROLLER_ID] : brokerIds;
    const roleOf = (id: number): KafkaNodeRoles =>
      !dedicated ? 'broker,controller' : id === DEDICATED_CONTROLLER_ID ? 'controller' : 'broker';
    const ports = new Map<number, { internal: number; controller: number }>();
    for (const id of ids) ports.set(id, { internal: await freePort(), controller: await freePort() });
    const voters = ids
      .filter((id) => roleOf(id) !== 'broker')
      .map((id) => `${id}@127.0.0.1:${ports.get(id)?.controller}`)
      .join(',');
    const proxies = new Map<number, FaultProxy>();
    const properties = {
      ...defaultProperties(count),
      'controller.quorum.voters': voters,
      ...options.properties,
    };
    const nodes: KafkaNode[] = [];
    for (const id of ids) {
      const port = ports.get(id);
      if (port === undefined) throw new HarnessError('no ports for a Kafka node');
      const roles = roleOf(id);
      let external: { port: number; advertisedPort: number } | undefined;
      if (options.proxied === true && roles !== 'controller') {
        const listenerPort = await freePort();
        const proxy = await FaultProxy.start({ host: '127.0.0.1', port: listenerPort });
        proxies.set(id, proxy);
        external = { port: listenerPort, advertisedPort: proxy.port };
      }
      const nodeDir = join(dir, `node-${id}`);
      await mkdir(nodeDir, { recursive: true });
      nodes.push(
        new KafkaNode({
          id,
          roles,
          dir: nodeDir,
          internalPort: port.internal,
          controllerPort: port.controller,
          ...(external === undefined ? {} : { external }),
          properties,
          java,
          classpath: `${distribution.libs}/*`,
        }),
      );
    }
    const cluster = new KafkaCluster(dir, nodes, proxies, distribution.version, name, randomClusterId());
    trackServer(cluster);
    try {
      await Promise.all(nodes.map((node) => cluster.format(node, java)));
      await Promise.all(nodes.map((node) => node.start()));
      await cluster.waitForBrokers(count);
      return cluster;
    } catch (error: unknown) {
      await cluster.destroy().catch(() => cluster.killSync());
      throw error;
    }
  }

  /** Bootstrap addresses for clients (through the proxies when proxied). */
  get brokers(): string[] {
    return this.brokerNodes().map((node) => node.clientAddress);
  }

  /** Direct addresses of the brokers, never through a proxy. */
  get directBrokers(): string[] {
    return this.brokerNodes().map((node) => node.internalAddress);
  }

  /** The nodes that serve clients. */
  brokerNodes(): KafkaNode[] {
    return this.nodes.filter((node) => node.isBroker);
  }

  describe(): string {
    return `kafka cluster ${this.name} of ${this.nodes.length} node(s) (${this.dir})`;
  }

  /**
   * The node with `id` (1-based).
   * @throws {HarnessError} for an unknown id.
   */
  node(id: number): KafkaNode {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new HarnessError(`${this.describe()} has no node ${id}`);
    return node;
  }

  /** The fault proxy in front of node `id`'s client listener. @throws {HarnessError} when not proxied. */
  proxy(id: number): FaultProxy {
    const proxy = this.proxies.get(id);
    if (proxy === undefined) throw new HarnessError(`${this.describe()} has no proxy for node ${id}`);
    return proxy;
  }

  /** kafkajs settings for a client of this cluster: PLAINTEXT, quiet, quick to notice a dead broker. */
  clientConfig(clientId: string, overrides: Partial<KafkaConfig> = {}): KafkaConfig {
    return {
      clientId,
      brokers: this.brokers,
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      logLevel: logLevel.NOTHING,
      ...overrides,
    };
  }

  /** A connected kafkajs admin client on the direct listeners; the caller disconnects it. */
  async admin(): Promise<Admin> {
    const admin = new Kafka(
      this.clientConfig(`cdp-harness-${this.name}`, {
        brokers: this.runningNodes()
          .filter((node) => node.isBroker)
          .map((node) => node.internalAddress),
        retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
      }),
    ).admin();
    await admin.connect();
    return admin;
  }

  /**
   * Waits until the cluster's metadata lists `count` brokers (all running nodes by default).
   * @throws {HarnessError} on timeout, with the nodes' log tails.
   */
  async waitForBrokers(count = this.runningNodes().filter((node) => node.isBroker).length): Promise<void> {
    await waitFor(
      async () => {
        const admin = await this.admin().catch(() => undefined);
        if (admin === undefined) return false;
        try {
          const { brokers } = await admin.describeCluster();
          return brokers.length >= count;
        } catch {
          return false;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: 250,
        description: `${this.describe()} to list ${count} broker(s)`,
        output: async () => (await Promise.all(this.nodes.map((node) => node.logTail(10)))).join('\n---\n'),
      },
    );
  }

  /**
   * Starts a stopped or killed node again on its data and waits until the cluster lists it.
   * @throws {HarnessError} when it does not come back.
   */
  async restart(id: number): Promise<void> {
    const node = this.node(id);
    await node.start();
    await this.waitForBrokers();
  }

  /**
   * Waits until every partition of `topic` has all its replicas in sync (a restarted broker caught up).
   * @throws {HarnessError} on timeout.
   */
  async waitForFullIsr(topic: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => {
        const admin = await this.admin().catch(() => undefined);
        if (admin === undefined) return false;
        try {
          const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
          return metadata.topics.every((t) => t.partitions.every((p) => p.isr.length === p.replicas.length));
        } catch {
          return false;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      { timeoutMs, intervalMs: 250, description: `every replica of ${topic} to be in sync` },
    );
  }

  runningNodes(): KafkaNode[] {
    return this.nodes.filter((node) => node.isRunning());
  }

  /** Stops every node (SIGKILL: the data goes with the temp dir), closes the proxies, removes the dir. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.nodes.map((node) => node.kill().catch(() => node.killSync())));
    await Promise.all([...this.proxies.values()].map((proxy) => proxy.close()));
    untrackServer(this);
    await removeScratchDir(this.dir);
  }

  killSync(): void {
    for (const node of this.nodes) node.killSync();
    this.destroyed = true;
    removeScratchDirSync(this.dir);
  }

  private async format(node: KafkaNode, java: string): Promise<void> {
    await node.writeConfig();
    await runCommand(
      java,
      node.jvmArgs(
        'kafka.tools.StorageTool',
        'format',
        '-t',
        this.clusterId,
        '-c',
        join(node.dir, 'server.properties'),
        '--ignore-formatted',
      ),
      { cwd: node.dir, timeoutMs: 60_000 },
    );
  }
}
