export { checksumOf, MigrationError, type MigrationReport, migrateShard } from './migrateShard.js';
export { type Migration, SHARD_MIGRATIONS } from './migrations.js';
