import { kafkaAvailability } from '../../local/services/kafkaDistribution.js';

const availability = await kafkaAvailability();

/** CI sets `CI`; `.ci/run` sets it too, so CI never skips a test on a real broker. */
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

if (!availability.available) {
  if (inCi) {
    throw new Error(`The tests on a real Kafka cluster must run in CI, but: ${availability.reason}`);
  }
  console.warn(`Skipping the tests on a real Kafka cluster (outside CI): ${availability.reason}`);
}

/**
 * True when a KRaft cluster can start here (Java and the fetched broker jars). Outside CI a missing piece
 * skips the Kafka tests with a message naming it; in CI it fails the test file at import.
 */
export const kafkaReady: boolean = availability.available;
