import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { type WiredQueryService, wireQueryService } from '../../lambdas/query/dependencies.js';
import { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import { ResilientPublisher } from '../../lambdas/shared/ingest/ResilientPublisher.js';
import { SpilloverDrainer } from '../../lambdas/shared/ingest/SpilloverDrainer.js';
import type { ShardMap } from '../../lambdas/shared/sharding/index.js';
import { LOCAL_TOPIC } from '../consumer/LocalConsumer.js';
import { ApiGatewayServer } from '../http/ApiGatewayServer.js';
import { ingestGatewayRoutes } from '../http/ingestApi.js';
import { queryGatewayRoutes } from '../http/queryApi.js';
import { LocalLogSpillover } from '../ingest/index.js';
import { LocalLog } from '../log/index.js';
import { LocalLogStream, type LocalStream } from '../stream/index.js';

export interface LocalApisOptions {
  /** Where the events topic lives: the local log, or a Kafka cluster. */
  readonly stream: LocalStream | LocalLog;
  /**
   * The durable log of the spillover (a one-partition topic): where accepted events wait while the brokers
   * are unavailable. Defaults to the stream's own log; required on Kafka, whose outage it must survive.
   */
  readonly spillLog?: LocalLog;
  readonly shardMap: ShardMap;
  readonly redisUrl?: string | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly port?: number;
}

/**
 * The platform's HTTP API on loopback, in API Gateway's payload format 2.0: the real ingest handler code
 * publishing through the resilient publisher (to the local log with its fault switch, or to Kafka with the
 * platform's producer) with a durable spillover and its drainer, and the real query handler code on the
 * shards and Redis.
 */
export class LocalApis {
  private constructor(
    public readonly server: ApiGatewayServer,
    private readonly publisher: ResilientPublisher,
    private readonly drainer: SpilloverDrainer,
    private readonly query: WiredQueryService,
  ) {}

  public static async start(options: LocalApisOptions): Promise<LocalApis> {
    const stream = options.stream instanceof LocalLog ? new LocalLogStream(options.stream) : options.stream;
    const spillLog = options.spillLog ?? (options.stream instanceof LocalLog ? options.stream : undefined);
    if (spillLog === undefined) throw new TypeError('LocalApis on Kafka needs a local log for its spillover');
    const broker = stream.publisher('cdp-local-ingest');
    const spillover = await LocalLogSpillover.open({ log: spillLog });
    const publisher = new ResilientPublisher({
      inner: broker,
      spillover,
      topic: LOCAL_TOPIC,
      metrics: options.metrics,
      logger: options.logger,
    });
    const drainer = new SpilloverDrainer({
      spillover,
      inner: broker,
      topic: LOCAL_TOPIC,
      policies: publisher.policies,
      metrics: options.metrics,
      logger: options.logger,
    });
    drainer.start();
    const ingest = new IngestService({
      publisher,
      topic: LOCAL_TOPIC,
      logger: options.logger,
      metrics: options.metrics,
    });
    const query = await wireQueryService({
      shardMap: options.shardMap,
      redis: options.redisUrl ? { url: options.redisUrl } : undefined,
      logger: options.logger,
      metrics: options.metrics,
    });
    const server = await ApiGatewayServer.start({
      routes: [
        ...ingestGatewayRoutes(ingest, options.logger),
        ...queryGatewayRoutes(query.service, options.logger),
      ],
      ...(options.port === undefined ? {} : { port: options.port }),
    });
    return new LocalApis(server, publisher, drainer, query);
  }

  public get url(): string {
    return this.server.url;
  }

  public async close(): Promise<void> {
    await this.server.close();
    await this.drainer.stop();
    await this.publisher.close();
    await this.query.close();
  }
}
