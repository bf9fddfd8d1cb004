// Over 300 lines on purpose: the fault switch and its effect on the listener and on open links are one state
// machine; the per-connection plumbing lives in Link and Channel.
import { connect, type Socket } from 'node:net';
import { LOOPBACK, RESERVED_PORTS } from '../services/freePort.js';
import { type Delay, NO_DELAY } from './Channel.js';
import { FaultProxyError, InvalidFaultOptionError } from './errors.js';
import { Link, type LinkHooks, resetSocket } from './Link.js';
import { ProxyListener } from './ProxyListener.js';

/** Where the proxy forwards connections to. */
export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

/** Options for {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /** Port to listen on (on 127.0.0.1); a free one unless told. */
  readonly port?: number;
}

/** Options for {@link FaultProxy.setLatency}. */
export interface LatencyOptions {
  /** Each chunk's delay varies uniformly by up to this much either way; order is kept regardless. */
  readonly jitterMs?: number;
}

/** The fault in effect. Latency is a separate setting that applies while forwarding. */
export type Fault = 'none' | 'refuse' | 'hang' | 'reset' | 'cut';

/** Counters since the proxy started. */
export interface FaultProxyStats {
  /** Connections the listener accepted, including those then reset or held by a fault. */
  readonly accepted: number;
  /** Accepted connections that are still open. */
  readonly active: number;
  /** Bytes forwarded from clients to the target. */
  readonly bytesUp: number;
  /** Bytes forwarded from the target to clients. */
  readonly bytesDown: number;
  /**
   * Accepted connections the target refused (or dropped before connecting); their clients get a reset.
   * Attempts made while the proxy itself refuses are turned away by the kernel and cannot be counted.
   */
  readonly refused: number;
  /** Connections the proxy reset on purpose: by reset, cut, heal after a hang, or on arrival while resetting. */
  readonly resets: number;
}

function ignore(): void {}

function assertPort(option: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidFaultOptionError(option, port, 'expected an integer port between 1 and 65535');
  }
}

function assertDuration(option: string, ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidFaultOptionError(option, ms, 'expected a finite number of milliseconds, zero or more');
  }
}

/**
 * A TCP proxy on 127.0.0.1 that forwards every connection to one target and injects network faults on demand,
 * for failure drills against real servers. Faults switch at runtime and, where the real failure would, reach
 * connections that are already open:
 *
 * - latency delays every chunk each way, keeping order (new and open connections);
 * - `refuse` closes the listener so new connections get a real ECONNREFUSED; open ones keep working;
 * - `hang` forwards nothing either way, not even a close, on open and new connections (a blackhole);
 * - `reset` resets open connections and every new one;
 * - `cut` is a partition: reset everything and refuse, then heal by itself.
 *
 * Leaving a hang resets the connections it held: a partition loses data in flight, and flushing bytes that
 * clients may already have given up on would make the drill kinder than the failure it imitates.
 */
export class FaultProxy {
  private readonly listener: ProxyListener;
  private currentFault: Fault = 'none';
  private delay: Delay = NO_DELAY;
  private readonly links = new Set<Link>();
  /** Clients accepted during a hang: never connected to the target, reset when the hang ends. */
  private readonly heldClients = new Set<Socket>();
  private readonly counters = { accepted: 0, bytesUp: 0, bytesDown: 0, refused: 0, resets: 0 };
  private pendingCut: { readonly timer: NodeJS.Timeout; readonly end: () => void } | undefined;
  private closed = false;
  private readonly hooks: LinkHooks = {
    delay: () => this.delay,
    forwardedUp: (bytes) => {
      this.counters.bytesUp += bytes;
    },
    forwardedDown: (bytes) => {
      this.counters.bytesDown += bytes;
    },
    targetUnreachable: () => {
      this.counters.refused += 1;
    },
    closed: (link) => {
      this.links.delete(link);
    },
  };

  private constructor(
    public readonly target: ProxyTarget,
    port: number,
  ) {
    this.listener = new ProxyListener(LOOPBACK, port, (client) => this.accept(client));
  }

  /**
   * Starts a proxy to `target`, listening on 127.0.0.1.
   * @throws {InvalidFaultOptionError} for a port that is not a valid TCP port or belongs to a service of this machine.
   * @throws {ProxyListenError} when the port is taken.
   */
  public static async start(target: ProxyTarget, options: FaultProxyOptions = {}): Promise<FaultProxy> {
    assertPort('target.port', target.port);
    if (options.port !== undefined) {
      assertPort('port', options.port);
      if (RESERVED_PORTS.has(options.port)) {
        throw new InvalidFaultOptionError('port', options.port, 'belongs to a service of this machine');
      }
    }
    const proxy = new FaultProxy({ host: target.host, port: target.port }, options.port ?? 0);
    await proxy.listener.open();
    return proxy;
  }

  /** Always the loopback address. */
  public get host(): string {
    return this.listener.host;
  }

  /** The port the proxy listens on; it stays the same through refusals and cuts. */
  public get port(): number {
    return this.listener.port;
  }

  /** The fault in effect. */
  public get fault(): Fault {
    return this.currentFault;
  }

  /** `<protocol>://127.0.0.1:<port>`. */
  public url(protocol = 'tcp'): string {
    return `${protocol}://${this.host}:${this.port}`;
  }

  /** `url` with its host and port replaced by the proxy's, e.g. a database URL that then goes through the proxy. */
  public via(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = this.host;
    proxied.port = String(this.port);
    return proxied.toString();
  }

  /**
   * Delays every chunk, each way, on open and new connections; 0 turns latency off. Chunks already queued keep
   * their delay.
   * @throws {InvalidFaultOptionError} for a negative or non-finite delay.
   */
  public setLatency(ms: number, options: LatencyOptions = {}): void {
    const jitterMs = options.jitterMs ?? 0;
    assertDuration('latency', ms);
    assertDuration('jitterMs', jitterMs);
    this.delay = ms === 0 && jitterMs === 0 ? NO_DELAY : { latencyMs: ms, jitterMs };
  }

  /**
   * Stops listening: new connections get ECONNREFUSED from the kernel, open ones keep forwarding.
   * @throws {FaultProxyError} after {@link close}.
   */
  public async refuse(): Promise<void> {
    await this.switchTo('refuse');
  }

  /**
   * Forwards nothing, either way, on open connections and on the new ones it keeps accepting.
   * @throws {FaultProxyError} after {@link close}.
   * @throws {ProxyListenError} when leaving a refusal and the port cannot be listened on again.
   */
  public async hang(): Promise<void> {
    await this.switchTo('hang');
  }

  /**
   * Resets every open connection and each new one until healed.
   * @throws {FaultProxyError} after {@link close}.
   * @throws {ProxyListenError} when leaving a refusal and the port cannot be listened on again.
   */
  public async reset(): Promise<void> {
    await this.switchTo('reset');
  }

  /**
   * Partitions the network for `durationMs`: resets every connection and refuses new ones at once, then heals
   * by itself (latency set before stays). The partition is in place when this returns; the promise resolves
   * when it ends, after `durationMs` or earlier when another fault, {@link heal} or {@link close} replaces it.
   * @throws {InvalidFaultOptionError} for a negative or non-finite duration (synchronously).
   * @throws {FaultProxyError} after {@link close} (synchronously).
   * @throws {ProxyListenError} (rejection) when the port cannot be listened on again.
   */
  public cut(durationMs: number): Promise<void> {
    assertDuration('durationMs', durationMs);
    this.assertOpen();
    this.enter('cut');
    const ended = new Promise<void>((resolve, reject) => {
      const end = (): void => {
        this.syncListener().then(resolve, reject);
      };
      const timer = setTimeout(() => {
        this.pendingCut = undefined;
        this.enter('none');
        end();
      }, durationMs);
      this.pendingCut = { timer, end };
    });
    // A caller that does not await the cut must not see the process end on an unhandled rejection.
    ended.catch(ignore);
    return ended;
  }

  /**
   * Back to plain forwarding: no fault, no latency, listening again. Connections held by a hang are reset.
   * @throws {FaultProxyError} after {@link close}.
   * @throws {ProxyListenError} when the port cannot be listened on again.
   */
  public async heal(): Promise<void> {
    this.delay = NO_DELAY;
    await this.switchTo('none');
  }

  /** Counters since the proxy started. */
  public stats(): FaultProxyStats {
    return { ...this.counters, active: this.links.size + this.heldClients.size };
  }

  /** Stops listening and destroys every connection. Safe to call twice. */
  public async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.endPendingCut();
    const listenerClosed = this.listener.close();
    for (const link of this.links) link.destroy();
    this.links.clear();
    for (const client of this.heldClients) client.destroy();
    this.heldClients.clear();
    await listenerClosed;
  }

  private async switchTo(fault: Fault): Promise<void> {
    this.assertOpen();
    this.enter(fault);
    await this.syncListener();
  }

  /** Applies a fault to the open connections; the listener follows in {@link syncListener}. */
  private enter(fault: Fault): void {
    this.endPendingCut();
    const previous = this.currentFault;
    this.currentFault = fault;
    if (previous === 'hang' && fault !== 'hang') this.resetWhere((link) => link.isFrozen);
    if (fault === 'hang') for (const link of this.links) link.freeze();
    if (fault === 'reset' || fault === 'cut') this.resetWhere(() => true);
    if (fault === 'refuse' || fault === 'cut') this.listener.stop();
  }

  private resetWhere(selected: (link: Link) => boolean): void {
    for (const link of this.links) {
      if (!selected(link)) continue;
      this.links.delete(link);
      this.counters.resets += 1;
      link.reset();
    }
    for (const client of this.heldClients) {
      this.counters.resets += 1;
      resetSocket(client);
    }
    this.heldClients.clear();
  }

  private endPendingCut(): void {
    const pending = this.pendingCut;
    if (pending === undefined) return;
    this.pendingCut = undefined;
    clearTimeout(pending.timer);
    pending.end();
  }

  private wantsListener(): boolean {
    return !this.closed && this.currentFault !== 'refuse' && this.currentFault !== 'cut';
  }

  private syncListener(): Promise<void> {
    return this.listener.sync(() => this.wantsListener());
  }

  private accept(client: Socket): void {
    client.on('error', ignore);
    this.counters.accepted += 1;
    if (this.closed) {
      client.destroy();
    } else if (this.currentFault === 'none') {
      this.forward(client);
    } else if (this.currentFault === 'hang') {
      this.heldClients.add(client);
      client.once('close', () => this.heldClients.delete(client));
    } else {
      this.counters.resets += 1;
      resetSocket(client);
    }
  }

  private forward(client: Socket): void {
    const upstream = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    upstream.on('error', ignore);
    // Small protocol messages must not wait for Nagle: the only delay is the one the drill sets.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.links.add(new Link(client, upstream, this.hooks));
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new FaultProxyError(`Fault proxy on ${this.host}:${this.port} is closed`, {
        context: { host: this.host, port: this.port },
      });
    }
  }
}
