export { KafkaStream, type KafkaStreamOptions } from './KafkaStream.js';
export { LocalLogStream } from './LocalLogStream.js';
export type { LocalEventSource, LocalStream } from './LocalStream.js';
