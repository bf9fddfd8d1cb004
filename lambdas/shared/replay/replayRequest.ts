import { z } from 'zod';
import { InvalidReplayRequestError } from './errors.js';

const isoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 time such as 2026-01-01T00:00:00Z',
});
const offset = z.number().int().nonnegative();

/** What to replay: a time range of the whole topic, or an offset range of one partition. */
export const replayRequestSchema = z
  .strictObject({
    from: isoTime.optional(),
    to: isoTime.optional(),
    partition: offset.optional(),
    fromOffset: offset.optional(),
    toOffset: offset.optional(),
  })
  .transform((request, context): ReplayRequest | typeof z.NEVER => {
    const byTime = request.from !== undefined || request.to !== undefined;
    const byOffset =
      request.partition !== undefined || request.fromOffset !== undefined || request.toOffset !== undefined;
    const fail = (message: string) => {
      context.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (byTime && byOffset) return fail('give either from/to or partition/fromOffset/toOffset, not both');
    if (byTime) {
      if (request.from === undefined || request.to === undefined)
        return fail('a time range needs both from and to');
      const from = Date.parse(request.from);
      const to = Date.parse(request.to);
      if (from >= to) return fail(`from (${request.from}) must be before to (${request.to})`);
      return { kind: 'time', from, to };
    }
    if (
      request.partition === undefined ||
      request.fromOffset === undefined ||
      request.toOffset === undefined
    ) {
      return fail('give a time range (from, to) or an offset range (partition, fromOffset, toOffset)');
    }
    if (request.fromOffset > request.toOffset) {
      return fail(`fromOffset (${request.fromOffset}) must not be after toOffset (${request.toOffset})`);
    }
    return {
      kind: 'offsets',
      partition: request.partition,
      fromOffset: request.fromOffset,
      toOffset: request.toOffset,
    };
  });

export type ReplayRequest =
  | { readonly kind: 'time'; readonly from: number; readonly to: number }
  | {
      readonly kind: 'offsets';
      readonly partition: number;
      readonly fromOffset: number;
      readonly toOffset: number;
    };

/**
 * Validates a replay request (the Lambda's input, or the CLI's options).
 * @throws {InvalidReplayRequestError} saying what is wrong, field by field.
 */
export function parseReplayRequest(input: unknown): ReplayRequest {
  const parsed = replayRequestSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map(
    (i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`,
  );
  throw new InvalidReplayRequestError(`invalid replay request: ${issues.join('; ')}`, {
    context: { issues },
  });
}
