import type { ParkedRecord, RecordParker } from '../../lambdas/shared/consumer/parking.js';
import type { LocalLog } from '../log/index.js';

/** Parks records on the retry topic of the local log (appended durably, partitioned by key). */
export class LocalLogRecordParker implements RecordParker {
  public constructor(
    private readonly log: LocalLog,
    private readonly retryTopic: string,
  ) {}

  public async park(records: readonly ParkedRecord[]): Promise<void> {
    await this.log.append(
      this.retryTopic,
      records.map((record) => ({ key: record.key, value: record.value, headers: { ...record.headers } })),
    );
  }
}
