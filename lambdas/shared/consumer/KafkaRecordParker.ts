import type { KafkaPublisher } from '../kafka/KafkaPublisher.js';
import type { ParkedRecord, RecordParker } from './parking.js';

/** Parks records on the retry topic of the MSK cluster, acknowledged by every in-sync replica. */
export class KafkaRecordParker implements RecordParker {
  public constructor(
    private readonly publisher: Pick<KafkaPublisher, 'publishRecords'>,
    private readonly retryTopic: string,
  ) {}

  /** @throws {PublishError} when the brokers do not take the records. */
  public park(records: readonly ParkedRecord[]): Promise<void> {
    return this.publisher.publishRecords(this.retryTopic, records);
  }
}
