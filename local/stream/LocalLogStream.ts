import type { DeadLetterSink } from '../../lambdas/shared/consumer/deadLetters.js';
import type { RecordParker } from '../../lambdas/shared/consumer/parking.js';
import type { EventPublisher } from '../../lambdas/shared/ingest/publisher.js';
import { LocalEventLog } from '../../lambdas/shared/replay/LocalEventLog.js';
import { LocalLogDeadLetterSink } from '../consumer/LocalLogDeadLetterSink.js';
import { LocalLogRecordParker } from '../consumer/LocalLogRecordParker.js';
import { EventSourceEmulator, type EventSourceOptions } from '../esm/index.js';
import { FaultyLocalBroker } from '../ingest/FaultyLocalBroker.js';
import type { AppendMessage, AppendResult, LocalLog } from '../log/index.js';
import type { LocalEventSource, LocalStream } from './LocalStream.js';

/** The durable local log playing MSK; its ingest producer is the log with a fault switch for drills. */
export class LocalLogStream implements LocalStream {
  public readonly kind = 'local log';

  public constructor(public readonly log: LocalLog) {}

  public describe(): string {
    return `local log ${this.log.dir}`;
  }

  public async createTopic(topic: string, partitions: number): Promise<void> {
    const current = await this.log.partitionsOf(topic).catch(() => 0);
    if (current < partitions) await this.log.createTopic(topic, partitions);
  }

  public partitionsOf(topic: string): Promise<number> {
    return this.log.partitionsOf(topic);
  }

  public endOffsets(topic: string): Promise<number[]> {
    return this.eventLog().endOffsets(topic);
  }

  public async committedOffsets(group: string, topic: string): Promise<number[]> {
    const partitions = await this.log.partitionsOf(topic);
    return Promise.all(Array.from({ length: partitions }, (_, p) => this.log.committed(group, topic, p)));
  }

  public commitOffset(group: string, topic: string, partition: number, offset: number): Promise<void> {
    return this.log.commit(group, topic, partition, offset);
  }

  public lag(group: string, topic: string): Promise<Record<number, number>> {
    return this.log.lag(group, topic);
  }

  public append(topic: string, messages: readonly AppendMessage[]): Promise<AppendResult[]> {
    return this.log.append(topic, messages);
  }

  public eventSource(options: EventSourceOptions): LocalEventSource {
    return new EventSourceEmulator({ ...options, log: this.log });
  }

  public deadLetterSink(topic: string): DeadLetterSink {
    return new LocalLogDeadLetterSink(this.log, topic);
  }

  public recordParker(topic: string): RecordParker {
    return new LocalLogRecordParker(this.log, topic);
  }

  /** A {@link FaultyLocalBroker}: drills switch its faults; healthy, it appends as the producer does. */
  public publisher(): FaultyLocalBroker & EventPublisher {
    return new FaultyLocalBroker(this.log);
  }

  public eventLog(): LocalEventLog {
    return new LocalEventLog(this.log);
  }

  public async close(): Promise<void> {}
}
