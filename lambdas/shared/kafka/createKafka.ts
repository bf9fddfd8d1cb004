import type { Logger } from '@aws-lambda-powertools/logger';
import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';
import { Kafka, type KafkaConfig, type logCreator, logLevel, type RetryOptions } from 'kafkajs';

/** TCP connect to a broker; brokers are in the same VPC, so a slow connect means a broken path. */
export const CONNECTION_TIMEOUT_MS = 5_000;
/** SASL handshake including signing the IAM token. */
export const AUTHENTICATION_TIMEOUT_MS = 10_000;
/** One Kafka request; topic creation waits for leader election and may take a few seconds. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** kafkajs' own retries of retriable protocol errors (leader moves, not-controller, connection resets). */
export const KAFKA_RETRY: Readonly<RetryOptions> = {
  retries: 5,
  initialRetryTime: 300,
  maxRetryTime: 10_000,
  factor: 0.2,
  multiplier: 2,
};
/** kafkajs logs below this level are dropped before they reach the structured logger. */
export const KAFKA_LOG_LEVEL = logLevel.WARN;

/** Signs an MSK IAM token for `region`; the default reads the function's role credentials. */
export type MskTokenProvider = (region: string) => Promise<{ readonly token: string }>;

export type KafkaLogger = Pick<Logger, 'error' | 'warn' | 'info' | 'debug'>;

export interface CreateKafkaOptions {
  /** `host:port` of the IAM (port 9098) listeners, as returned by `GetBootstrapBrokers`. */
  readonly brokers: readonly string[];
  /** Identifies this client in broker logs and quotas. */
  readonly clientId: string;
  /** Region of the cluster; the IAM token is signed for it. */
  readonly region: string;
  readonly logger?: KafkaLogger;
  readonly tokenProvider?: MskTokenProvider;
  readonly retry?: RetryOptions;
}

const signWithDefaultCredentials: MskTokenProvider = (region) => generateAuthToken({ region });

/** Routes kafkajs' internal logging into the structured logger instead of the console. */
export const kafkaLogCreator =
  (logger: KafkaLogger): logCreator =>
  () =>
  ({ namespace, level, log }) => {
    const { message, ...details } = log;
    const attributes = { kafka: { namespace, ...details } };
    if (level === logLevel.ERROR) logger.error(message, attributes);
    else if (level === logLevel.WARN) logger.warn(message, attributes);
    else if (level === logLevel.INFO) logger.info(message, attributes);
    else logger.debug(message, attributes);
  };

/** Timeouts, retries and logging every client of the platform uses, whatever the transport. */
function commonConfig(
  clientId: string,
  logger: KafkaLogger | undefined,
  retry: RetryOptions | undefined,
): Omit<KafkaConfig, 'brokers'> {
  return {
    clientId,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    authenticationTimeout: AUTHENTICATION_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    enforceRequestTimeout: true,
    retry: { ...KAFKA_RETRY, ...retry },
    logLevel: KAFKA_LOG_LEVEL,
    ...(logger === undefined ? {} : { logCreator: kafkaLogCreator(logger) }),
  };
}

/**
 * The kafkajs configuration for an MSK cluster with IAM access control: TLS to the brokers and SASL
 * OAUTHBEARER carrying a SigV4-signed token, refreshed on every (re)authentication.
 *
 * @throws {RangeError} when no broker is given.
 */
export function kafkaConfig(options: CreateKafkaOptions): KafkaConfig {
  if (options.brokers.length === 0) throw new RangeError('At least one bootstrap broker is required');
  const { region } = options;
  const tokenProvider = options.tokenProvider ?? signWithDefaultCredentials;
  return {
    ...commonConfig(options.clientId, options.logger, options.retry),
    brokers: [...options.brokers],
    ssl: true,
    sasl: {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => ({ value: (await tokenProvider(region)).token }),
    },
  };
}

/** Options of {@link plaintextKafkaConfig}. */
export interface PlaintextKafkaOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly logger?: KafkaLogger;
  readonly retry?: RetryOptions;
}

/**
 * The same client settings over PLAINTEXT without authentication: for the throwaway Kafka clusters on
 * loopback that the local platform and the tests run (never for MSK, whose listeners require TLS and IAM).
 *
 * @throws {RangeError} when no broker is given.
 */
export function plaintextKafkaConfig(options: PlaintextKafkaOptions): KafkaConfig {
  if (options.brokers.length === 0) throw new RangeError('At least one bootstrap broker is required');
  return { ...commonConfig(options.clientId, options.logger, options.retry), brokers: [...options.brokers] };
}

/**
 * A kafkajs client for an MSK cluster with IAM access control; see {@link kafkaConfig}.
 *
 * @throws {RangeError} when no broker is given.
 */
export function createKafka(options: CreateKafkaOptions): Kafka {
  return new Kafka(kafkaConfig(options));
}
