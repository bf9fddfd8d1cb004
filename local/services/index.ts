export {
  type CommandResult,
  createScratchDir,
  isRoot,
  type OsUser,
  postgresBinary,
  postgresBinDir,
  postgresOsUser,
  type RunCommandOptions,
  redisServerBinary,
  runCommand,
} from './binaries.js';
export { HarnessError, type HarnessErrorDetails, isHarnessError } from './errors.js';
export { acceptsConnections, freePort, RESERVED_PORTS } from './freePort.js';
export {
  PostgresServer,
  type PostgresStandbyOptions,
  type PostgresStartOptions,
  type PostgresStopMode,
} from './PostgresServer.js';
export { isProcessAlive } from './processes.js';
export { RedisServer, type RedisStartOptions } from './RedisServer.js';
export { destroyAll, type ManagedServer, trackedServers } from './registry.js';
export { sleep, type WaitForOptions, waitFor } from './waitFor.js';
