import { connect } from 'node:net';
import { LOOPBACK } from './freePort.js';

/**
 * Asks the server on `port` for `PING` and `INFO server` over a raw socket and returns its `process_id`,
 * or undefined when nothing answers `+PONG` yet.
 */
export function probeProcessId(port: number, timeoutMs = 500): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    let reply = '';
    const finish = (pid: number | undefined): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(pid);
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => finish(undefined));
    socket.once('error', () => finish(undefined));
    socket.once('close', () => finish(undefined));
    socket.once('connect', () => socket.write('PING\r\nINFO server\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (!reply.startsWith('+PONG') && reply.length >= 5) {
        finish(undefined);
        return;
      }
      const match = /\r\nprocess_id:(\d+)\r\n/.exec(reply);
      if (match?.[1] !== undefined) finish(Number(match[1]));
    });
  });
}
