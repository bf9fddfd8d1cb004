/**
 * `npm run kafka:fetch`: copies the Apache Kafka broker jars pinned in `local/kafka/pom.xml` from Maven
 * Central into `.local/kafka/<version>/libs` (or `$CDP_KAFKA_HOME/<version>/libs`). Idempotent; offline
 * once fetched. `--if-possible` turns a missing Java or Maven into a notice and exit 0 (how `npm test`
 * calls it, so a machine without Java still runs every other test).
 */
import { parseArgs } from 'node:util';
import { fetchKafkaDistribution, MissingToolError } from '../services/kafkaDistribution.js';

const { values } = parseArgs({ options: { 'if-possible': { type: 'boolean', default: false } } });

try {
  await fetchKafkaDistribution({ progress: (line) => console.log(line) });
} catch (error: unknown) {
  if (values['if-possible'] && error instanceof MissingToolError) {
    console.warn(`Kafka broker jars not fetched: ${error.message}`);
    console.warn('The tests on a real Kafka cluster will be skipped outside CI (and fail in CI).');
    process.exit(0);
  }
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
