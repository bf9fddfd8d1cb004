import { createServer, type Server, type Socket } from 'node:net';
import { sleep } from '../services/waitFor.js';
import { isErrnoException, ProxyListenError } from './errors.js';

/** How long listening again on the proxy's own port is retried while another socket holds it. */
const RELISTEN_RETRY_MS = 5_000;
const RELISTEN_INTERVAL_MS = 50;

function ignore(): void {}

/**
 * The proxy's listening socket, which comes and goes with refusals while keeping its port. Closing it is
 * immediate, so a refusal is in place as soon as it is asked for; listening again is asynchronous and
 * serialised, so the last request decides.
 */
export class ProxyListener {
  private server: Server | undefined;
  private changes: Promise<void> = Promise.resolve();

  public constructor(
    public readonly host: string,
    private currentPort: number,
    private readonly onConnection: (client: Socket) => void,
  ) {}

  /** The port listened on; the kernel's choice once the first listen succeeded with port 0. */
  public get port(): number {
    return this.currentPort;
  }

  /**
   * Listens for the first time, without retrying a busy port.
   * @throws {ProxyListenError} when the port is taken.
   */
  public async open(): Promise<void> {
    this.server = await this.listen(false);
  }

  /** Stops accepting at once; open connections are not affected. */
  public stop(): void {
    this.server?.close();
    this.server = undefined;
  }

  /**
   * Listens again when `wanted()` still says so once earlier changes have settled.
   * @throws {ProxyListenError} when the port stays taken for {@link RELISTEN_RETRY_MS}.
   */
  public sync(wanted: () => boolean): Promise<void> {
    const change = this.changes.then(async () => {
      if (this.server !== undefined || !wanted()) return;
      const server = await this.listen(true);
      // The fault may have changed while the listener was starting.
      if (this.server === undefined && wanted()) this.server = server;
      else server.close();
    });
    this.changes = change.catch(ignore);
    return change;
  }

  /** Stops accepting; resolves once the connections this listener accepted have closed and changes settled. */
  public async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.changes;
  }

  private async listen(retryWhileBusy: boolean): Promise<Server> {
    const retryUntil = Date.now() + RELISTEN_RETRY_MS;
    for (;;) {
      try {
        return await this.bind();
      } catch (error: unknown) {
        const busy = isErrnoException(error) && error.code === 'EADDRINUSE';
        if (!retryWhileBusy || !busy || Date.now() >= retryUntil) {
          throw new ProxyListenError(this.host, this.currentPort, error);
        }
        await sleep(RELISTEN_INTERVAL_MS);
      }
    }
  }

  private bind(): Promise<Server> {
    return new Promise((resolve, reject) => {
      // pauseOnConnect: nothing is read from a client before the proxy knows what the fault asks for.
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, this.onConnection);
      server.once('error', reject);
      server.listen({ host: this.host, port: this.currentPort }, () => {
        server.off('error', reject);
        // Accept failures (such as EMFILE) are reported here; they must not end the process.
        server.on('error', ignore);
        const address = server.address();
        if (typeof address === 'object' && address !== null) this.currentPort = address.port;
        resolve(server);
      });
    });
  }
}
