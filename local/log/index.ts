export {
  ConcurrentAppendError,
  CorruptLogError,
  InvalidLogRequestError,
  LocalLogError,
  type LocalLogErrorContext,
  PartitionShrinkRefusedError,
  UnknownTopicError,
} from './errors.js';
export { type AppendMessage, type AppendResult, LocalLog, type LocalLogOptions } from './LocalLog.js';
export type { LogRecord } from './recordFormat.js';
