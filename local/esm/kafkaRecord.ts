import type { KafkaMessage } from 'kafkajs';
import type { LogRecord } from '../log/index.js';

/** A record as kafkajs fetched it, in the shape the partition worker reads (first value of each header). */
export function toLogRecord(message: KafkaMessage): LogRecord {
  const headers: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) headers[name] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return {
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    key: message.key,
    value: message.value,
    headers,
  };
}
