import type { DeadLetter, DeadLetterSink } from '../../lambdas/shared/consumer/deadLetters.js';
import type { LocalLog } from '../log/index.js';

/**
 * The on-failure destination of the local platform: dead letters appended durably to a topic of the
 * local log, keyed like the original record so a replay keeps per-customer order.
 */
export class LocalLogDeadLetterSink implements DeadLetterSink {
  public constructor(
    private readonly log: LocalLog,
    private readonly topic: string,
  ) {}

  public async send(letters: readonly DeadLetter[]): Promise<void> {
    await this.log.append(
      this.topic,
      letters.map((letter) => ({
        key: letter.record.key ? Buffer.from(letter.record.key, 'base64') : null,
        value: JSON.stringify({ kind: 'poison-record', ...letter }),
        headers: { reason: letter.reason },
      })),
    );
  }
}
