import { ErrorReply } from '@redis/client';

/**
 * Error replies Redis gives while a node is failing over, loading its data or resharding (ElastiCache
 * failover: the old primary answers READONLY until clients follow the new one): the same command
 * succeeds a moment later.
 */
export const TRANSIENT_REDIS_REPLIES = [
  'READONLY',
  'LOADING',
  'TRYAGAIN',
  'MASTERDOWN',
  'CLUSTERDOWN',
] as const;

const isTransientReply = (error: ErrorReply): boolean =>
  TRANSIENT_REDIS_REPLIES.some((code) => error.message === code || error.message.startsWith(`${code} `));

/**
 * Redis failures worth repeating: connection failures and timeouts, and the error replies of a failover
 * ({@link TRANSIENT_REDIS_REPLIES}). Other replies (a command Redis rejected) and programming errors are not.
 */
export const isTransientRedisError = (error: unknown): boolean => {
  if (!(error instanceof Error) || error instanceof TypeError || error instanceof RangeError) return false;
  return error instanceof ErrorReply ? isTransientReply(error) : true;
};
