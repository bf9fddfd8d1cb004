import type { DeadLetter, DeadLetterSink } from '../../lambdas/shared/consumer/deadLetters.js';
import type { AppendMessage, LocalLog } from '../log/index.js';

/**
 * A dead letter as a record of the local DLQ topic: keyed like the original record so a replay keeps
 * per-customer order, the letter as JSON, its reason as a header.
 */
export function deadLetterMessage(letter: DeadLetter): AppendMessage & { readonly key: Buffer | null } {
  return {
    key: letter.record.key ? Buffer.from(letter.record.key, 'base64') : null,
    value: JSON.stringify({ kind: 'poison-record', ...letter }),
    headers: { reason: letter.reason },
  };
}

/** The on-failure destination of the local platform: dead letters appended durably to a topic of the local log. */
export class LocalLogDeadLetterSink implements DeadLetterSink {
  public constructor(
    private readonly log: LocalLog,
    private readonly topic: string,
  ) {}

  public async send(letters: readonly DeadLetter[]): Promise<void> {
    await this.log.append(this.topic, letters.map(deadLetterMessage));
  }
}
