import type { Socket } from 'node:net';
import { Channel, type Delay } from './Channel.js';

/** What a link reports to the proxy that owns it. */
export interface LinkHooks {
  readonly delay: () => Delay;
  readonly forwardedUp: (bytes: number) => void;
  readonly forwardedDown: (bytes: number) => void;
  /** The target refused or dropped the connection before it was established. */
  readonly targetUnreachable: () => void;
  /** Both sockets have closed; called once. */
  readonly closed: (link: Link) => void;
}

/**
 * Closes a TCP socket with an RST instead of a FIN, so the peer sees `ECONNRESET` as after a crash or a
 * middlebox dropping state. A socket still connecting is reset once it connects.
 */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    // Not a TCP handle (cannot happen for sockets the proxy creates); closing it is the next best thing.
    socket.destroy();
  }
}

/**
 * One proxied connection: the accepted client socket, the socket to the target and a channel each way.
 * Closes travel like bytes: a FIN is forwarded after the data before it, an abrupt close (error or RST) on one
 * side resets the other. A frozen link forwards nothing, closes included, until the proxy resets or destroys it.
 */
export class Link {
  private readonly up: Channel;
  private readonly down: Channel;
  private frozen = false;
  /** Set once the proxy tears the link down itself; the closes that follow are not forwarded or counted. */
  private abandoned = false;
  private upstreamConnected = false;
  private clientClosed = false;
  private upstreamClosed = false;
  private done = false;

  public constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly hooks: LinkHooks,
  ) {
    this.up = new Channel(client, upstream, hooks.delay, hooks.forwardedUp);
    this.down = new Channel(upstream, client, hooks.delay, hooks.forwardedDown);
    upstream.once('connect', () => {
      this.upstreamConnected = true;
    });
    client.once('close', (hadError: boolean) => this.sideClosed('client', hadError));
    upstream.once('close', (hadError: boolean) => this.sideClosed('upstream', hadError));
    this.up.start();
    this.down.start();
  }

  /** Whether the link is frozen by a hang. */
  public get isFrozen(): boolean {
    return this.frozen;
  }

  /** Stops all forwarding both ways; bytes stay where they are (kernel buffers or the delay queues). */
  public freeze(): void {
    this.frozen = true;
    this.up.hold();
    this.down.hold();
  }

  /** Drops whatever is queued and resets both sockets. */
  public reset(): void {
    this.abandoned = true;
    this.up.stop();
    this.down.stop();
    resetSocket(this.client);
    resetSocket(this.upstream);
  }

  /** Drops whatever is queued and closes both sockets without waiting for the peers. */
  public destroy(): void {
    this.abandoned = true;
    this.up.stop();
    this.down.stop();
    this.client.destroy();
    this.upstream.destroy();
  }

  private sideClosed(side: 'client' | 'upstream', hadError: boolean): void {
    const clientSide = side === 'client';
    if (clientSide) this.clientClosed = true;
    else this.upstreamClosed = true;
    // Nothing can be written to a closed socket: drop what was on its way there.
    (clientSide ? this.down : this.up).stop();
    const peer = clientSide ? this.upstream : this.client;
    if (!this.frozen && !this.abandoned) {
      if (!clientSide && !this.upstreamConnected) {
        this.hooks.targetUnreachable();
        resetSocket(peer);
      } else if (hadError) {
        resetSocket(peer);
      } else {
        (clientSide ? this.up : this.down).finish();
      }
    }
    if (this.clientClosed && this.upstreamClosed && !this.done) {
      this.done = true;
      this.hooks.closed(this);
    }
  }
}
