// Over 300 lines on purpose: one request path (parse, idempotency, publish, map the failure to a response)
// whose steps share the settings, the breaker and the metrics; the resilience policies live in their own
// modules.
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { IPolicy } from 'cockatiel';
import { INGEST_METRIC_NAMES } from '../contracts/index.js';
import { isRetriable } from '../errors.js';
import type { Envelope } from '../events/index.js';
import {
  type ApiErrorCode,
  errorResponse as apiErrorResponse,
  type ErrorResponseOptions,
} from '../http/index.js';
import type { RedisClient } from '../redis/createRedisClient.js';
import { type ResilienceSettings, resilienceSettings } from '../resilience/defaults.js';
import { redisPolicy } from '../resilience/named.js';
import {
  IdempotencyKeyInProgressError,
  IdempotencyKeyReusedError,
  IngestError,
  PayloadTooLargeError,
  RequestValidationError,
} from './errors.js';
import { IngestIdempotencyStore } from './IngestIdempotencyStore.js';
import { BackpressureError, type EventPublisher } from './publisher.js';
import {
  assertIdempotencyKey,
  assertJsonContentType,
  type ParsedBody,
  parseIngestBody,
  type RequestShape,
} from './validation.js';

/** One ingest request, as the HTTP layer hands it over. */
export interface IngestRequest {
  readonly shape: RequestShape;
  /** The body as text (API Gateway's base64 already decoded), or bytes that are not UTF-8. */
  readonly body: string | Uint8Array;
  readonly idempotencyKey?: string | undefined;
  readonly contentType?: string | undefined;
  /** The invocation's context: its remaining time bounds how long an in-flight key blocks a retry. */
  readonly context?: Context | undefined;
}

/** An HTTP response, JSON-serializable so that the idempotency store can remember it. */
export interface IngestResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export const INGEST_DEFAULTS = {
  /** How long an `Idempotency-Key` and its response are remembered. */
  idempotencyTtlSeconds: 24 * 3_600,
  /** Upper bound of one idempotency store operation; slower means the store is bypassed. */
  redisOperationTimeoutMillis: 300,
  /** How long a key stays "in progress" when no Lambda context tells the invocation's remaining time. */
  inProgressMillis: 30_000,
  /** `Retry-After` for retriable publish failures. */
  retryAfterSeconds: 5,
  /** `Retry-After` while the same key is in flight. */
  inProgressRetryAfterSeconds: 1,
} as const;

export type IngestSettings = { -readonly [K in keyof typeof INGEST_DEFAULTS]: number } & ResilienceSettings;

/** Idempotency records live under `<prefix>#<hash>` in Redis. */
export const IDEMPOTENCY_KEY_PREFIX = 'cdp-ingest';

export interface IngestServiceDependencies {
  readonly publisher: EventPublisher;
  readonly topic: string;
  /**
   * The idempotency store. Absent: `Idempotency-Key` is validated but not enforced (local runs without
   * Redis). Present but unreachable: see {@link IngestService}.
   */
  readonly redis?: RedisClient | undefined;
  /** The entry point's logger and metrics; it flushes the metrics after each request. */
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly newEventId?: () => string;
  readonly settings?: Partial<IngestSettings>;
}

/** What the store hashes: the key (scoped by the request shape) and the body it is bound to. */
interface KeyedBody {
  readonly key: string;
  readonly body: unknown;
}

/** Marks a failure of the publisher inside the idempotency guard, so the Redis breaker ignores it. */
class PublishAttemptError extends Error {
  public override readonly name = 'PublishAttemptError';
}

type Outcome = { readonly published: IngestResponse } | { readonly failed: unknown };

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): IngestResponse => ({
  status,
  headers: { ...JSON_HEADERS, ...headers },
  body: JSON.stringify(body),
});

/** An error answer in the one shape of both HTTP APIs (`shared/http/errorBody.ts`). */
export const errorResponse = (
  status: number,
  error: ApiErrorCode,
  message: string,
  options: ErrorResponseOptions = {},
): IngestResponse => {
  const { statusCode, ...rest } = apiErrorResponse(status, error, message, options);
  return { status: statusCode, ...rest };
};

/**
 * Accepts customer events over HTTP: validates them, assigns missing event ids, and publishes each
 * request's events in one call (a batch is published whole or not at all).
 *
 * Retries are safe with an `Idempotency-Key`: Powertools idempotency on Redis remembers the 202 response
 * per key (scoped by request shape) together with a hash of the body, so the same key and body get the
 * same response, including the event ids assigned the first time, without publishing again; the same key
 * with another body gets 422, and while the first request is still in flight 409. Failed publishes are
 * not remembered, so a retry after a 503 publishes.
 *
 * Redis is an accelerator, not a dependency: when it is unreachable, slow, or its breaker is open, requests
 * are still accepted and published without the guard (logged, counted as `IdempotencyStoreBypassed`). A
 * client retry during such an outage may then publish the same events twice; events keep the `eventId`
 * the client sent, and the consumer drops repeated ids, so clients that need exactly one effect send their
 * own ids. Refusing requests instead would turn a cache outage into an ingest outage.
 */
export class IngestService {
  private readonly settings: IngestSettings;
  private readonly logger: Logger;
  /** Counts only store failures: a publish failure or a client's key misuse says nothing about Redis. */
  private readonly storeBreaker: IPolicy;

  public constructor(private readonly deps: IngestServiceDependencies) {
    this.settings = { ...INGEST_DEFAULTS, ...resilienceSettings(deps.settings), ...deps.settings };
    this.logger = deps.logger;
    this.storeBreaker = redisPolicy(
      this.settings,
      (error) =>
        !(error instanceof PublishAttemptError) &&
        !(error instanceof IdempotencyValidationError) &&
        !(error instanceof IdempotencyAlreadyInProgressError),
    );
  }

  /**
   * Handles one request end to end and never throws: every outcome is an HTTP response.
   *
   * 202 accepted; 400 invalid; 409 same key in flight; 413 too large; 415 not JSON; 422 key reused with
   * another body; 503 (with `Retry-After`) when the publisher is overloaded or temporarily failing; 500
   * for anything else, without internals.
   */
  public async accept(request: IngestRequest): Promise<IngestResponse> {
    try {
      assertJsonContentType(request.contentType);
      if (request.idempotencyKey !== undefined) assertIdempotencyKey(request.idempotencyKey);
      const parsed = parseIngestBody(request.body, request.shape, {
        ...(this.deps.newEventId === undefined ? {} : { newEventId: this.deps.newEventId }),
      });
      return await this.publishOnce(request, parsed);
    } catch (error: unknown) {
      return this.failure(error);
    }
  }

  private async publish(envelopes: readonly Envelope[]): Promise<IngestResponse> {
    await this.deps.publisher.publish(this.deps.topic, envelopes);
    this.count(INGEST_METRIC_NAMES.eventsAccepted, envelopes.length);
    return json(202, { accepted: envelopes.length, eventIds: envelopes.map((e) => e.eventId) });
  }

  private async publishOnce(request: IngestRequest, parsed: ParsedBody): Promise<IngestResponse> {
    const { idempotencyKey } = request;
    const { redis } = this.deps;
    if (idempotencyKey === undefined || redis === undefined) return this.publish(parsed.envelopes);
    if (!redis.isReady) return this.bypass(parsed, { reason: 'redis is not connected' });

    let outcome: Outcome | undefined;
    const idempotent = makeIdempotent(
      async (_keyed: KeyedBody): Promise<IngestResponse> => {
        try {
          const response = await this.publish(parsed.envelopes);
          outcome = { published: response };
          return response;
        } catch (error: unknown) {
          outcome = { failed: error };
          throw new PublishAttemptError('publish failed', { cause: error });
        }
      },
      {
        persistenceStore: new IngestIdempotencyStore(redis, this.settings.redisOperationTimeoutMillis),
        config: new IdempotencyConfig({
          eventKeyJmesPath: 'key',
          payloadValidationJmesPath: 'body',
          throwOnNoIdempotencyKey: true,
          expiresAfterSeconds: this.settings.idempotencyTtlSeconds,
          hashFunction: 'sha256',
          lambdaContext: request.context ?? localContext(this.settings.inProgressMillis),
        }),
        keyPrefix: IDEMPOTENCY_KEY_PREFIX,
      },
    );

    try {
      const response = await this.storeBreaker.execute(() =>
        idempotent({ key: `${request.shape}:${idempotencyKey}`, body: parsed.json }),
      );
      if (outcome === undefined) this.count(INGEST_METRIC_NAMES.idempotentReplays, 1);
      return response;
    } catch (error: unknown) {
      if (outcome !== undefined && 'failed' in outcome) throw outcome.failed;
      if (outcome !== undefined) {
        // Published, but the response could not be remembered: the client still gets its 202.
        this.logger.warn('idempotency store failed after publishing; the response is not remembered', {
          error,
        });
        return outcome.published;
      }
      if (error instanceof IdempotencyValidationError) throw new IdempotencyKeyReusedError({ cause: error });
      if (error instanceof IdempotencyAlreadyInProgressError) {
        throw new IdempotencyKeyInProgressError(this.settings.inProgressRetryAfterSeconds, { cause: error });
      }
      return this.bypass(parsed, { error });
    }
  }

  private bypass(
    parsed: ParsedBody,
    why: { readonly reason: string } | { readonly error: unknown },
  ): Promise<IngestResponse> {
    this.logger.warn('idempotency store bypassed; publishing without the Idempotency-Key guard', why);
    this.count(INGEST_METRIC_NAMES.idempotencyStoreBypassed, 1);
    return this.publish(parsed.envelopes);
  }

  private failure(error: unknown): IngestResponse {
    if (error instanceof IngestError) {
      this.count(INGEST_METRIC_NAMES.requestsRejected, 1);
      this.logger.info('request rejected', {
        status: error.status,
        error: error.code,
        message: error.message,
      });
      const issues =
        error instanceof RequestValidationError || error instanceof PayloadTooLargeError
          ? error.issues
          : undefined;
      const headers: Record<string, string> =
        error instanceof IdempotencyKeyInProgressError
          ? { 'retry-after': String(error.retryAfterSeconds) }
          : {};
      return errorResponse(error.status, error.code, error.message, {
        ...(issues === undefined || issues.length === 0 ? {} : { issues }),
        headers,
      });
    }
    this.count(INGEST_METRIC_NAMES.publishFailures, 1);
    if (error instanceof BackpressureError) {
      this.logger.warn('publisher signals backpressure', { depth: error.depth, bound: error.bound });
      const seconds = Math.max(1, Math.ceil(error.retryAfterSeconds));
      return errorResponse(503, 'unavailable', `Ingest is overloaded; retry after ${seconds} s`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    if (isRetriable(error)) {
      this.logger.warn('publish failed; the client may retry', { error });
      const seconds = this.settings.retryAfterSeconds;
      return errorResponse(
        503,
        'unavailable',
        `Events could not be published now; retry after ${seconds} s`,
        {
          headers: { 'retry-after': String(seconds) },
        },
      );
    }
    this.logger.error('events not accepted', { error });
    return errorResponse(500, 'internal', 'The events could not be accepted');
  }

  private count(name: string, value: number): void {
    this.deps.metrics.addMetric(name, MetricUnit.Count, value);
  }
}

/**
 * Outside Lambda (local runtime, tests) there is no invocation context; the idempotency store reads only
 * the remaining time from it, to bound how long a key stays in progress.
 */
function localContext(budgetMillis: number): Context {
  const deadline = Date.now() + budgetMillis;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'ingest',
    functionVersion: '$LATEST',
    invokedFunctionArn: '',
    memoryLimitInMB: '0',
    awsRequestId: '',
    logGroupName: '',
    logStreamName: '',
    getRemainingTimeInMillis: () => Math.max(1, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
