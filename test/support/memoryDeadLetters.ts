import type { DeadLetter, DeadLetterSink } from '../../lambdas/shared/consumer/deadLetters.js';

/** Collects dead letters in memory; `failing` makes it refuse them like an unreachable queue. */
export class MemoryDeadLetters implements DeadLetterSink {
  public readonly letters: DeadLetter[] = [];
  public failing = false;

  public async send(letters: readonly DeadLetter[]): Promise<void> {
    if (this.failing) throw new Error('dead-letter destination unreachable');
    this.letters.push(...letters);
  }
}
