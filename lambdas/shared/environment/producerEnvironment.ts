import { z } from 'zod';
import { ENV } from '../contracts/index.js';
import { wholeNumber } from './parseEnvironment.js';

/**
 * The environment's producer configuration (`ingest.producer`), on the ingest function and the drainer;
 * each variable optional: the publisher's defaults apply where unset.
 */
export const producerEnvironment = {
  [ENV.producerCompression]: z.enum(['gzip', 'none'], { error: 'must be gzip or none' }).optional(),
  [ENV.producerMaxRecordsPerRequest]: wholeNumber(1).optional(),
} as const;

const producerSchema = z.object(producerEnvironment);

/** The publisher settings of a validated environment. */
export function producerSettingsOf(e: z.output<typeof producerSchema>): {
  compression?: 'gzip' | 'none';
  maxRecordsPerRequest?: number;
} {
  const compression = e[ENV.producerCompression];
  const maxRecordsPerRequest = e[ENV.producerMaxRecordsPerRequest];
  return {
    ...(compression === undefined ? {} : { compression }),
    ...(maxRecordsPerRequest === undefined ? {} : { maxRecordsPerRequest }),
  };
}
