import { describe, expect, it } from 'vitest';
import { producerSettingsFromEnvironment } from '../../../lambdas/shared/ingest/producerSettings.js';

describe('producer settings from the environment', () => {
  it('takes the compression and request size an environment sets', () => {
    expect(
      producerSettingsFromEnvironment({
        PRODUCER_COMPRESSION: 'none',
        PRODUCER_MAX_RECORDS_PER_REQUEST: '250',
      }),
    ).toEqual({ compression: 'none', maxRecordsPerRequest: 250 });
  });

  it("leaves the publisher's defaults where nothing is set", () => {
    expect(producerSettingsFromEnvironment({})).toEqual({});
  });

  it.each([
    ['PRODUCER_COMPRESSION', 'snappy'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', '0'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', 'many'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', '2.5'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', ''],
  ])('fails at cold start naming %s when it is %j', (name, value) => {
    expect(() => producerSettingsFromEnvironment({ [name]: value })).toThrow(
      new RegExp(`^environment variable ${name} `),
    );
  });
});
