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
import { FaultyLocalBroker, LocalLogSpillover } from '../ingest/index.js';
import type { LocalLog } from '../log/index.js';

export interface LocalApisOptions {
  readonly log: LocalLog;
  readonly shardMap: ShardMap;
  readonly redisUrl?: string | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly port?: number;
}

/**
 * The platform's HTTP API on loopback, in API Gateway's payload format 2.0: the real ingest handler code
 * publishing through the resilient publisher to the local log (the broker, with its fault switch) with a
 * durable spillover and its drainer, and the real query handler code on the shards and Redis.
 */
export class LocalApis {
  private constructor(
    public readonly server: ApiGatewayServer,
    public readonly broker: FaultyLocalBroker,
    private readonly publisher: ResilientPublisher,
    private readonly drainer: SpilloverDrainer,
    private readonly query: WiredQueryService,
  ) {}

  public static async start(options: LocalApisOptions): Promise<LocalApis> {
    const broker = new FaultyLocalBroker(options.log);
    const spillover = await LocalLogSpillover.open({ log: options.log });
    const publisher = new ResilientPublisher({ inner: broker, spillover, topic: LOCAL_TOPIC });
    const drainer = new SpilloverDrainer({
      spillover,
      inner: broker,
      topic: LOCAL_TOPIC,
      policies: publisher.policies,
    });
    drainer.start();
    const ingest = new IngestService({ publisher, topic: LOCAL_TOPIC, logger: options.logger });
    const query = await wireQueryService({
      shardMap: options.shardMap,
      redis: options.redisUrl ? { url: options.redisUrl } : undefined,
      logger: options.logger,
      metrics: options.metrics,
    });
    const server = await ApiGatewayServer.start({
      routes: [...ingestGatewayRoutes(ingest), ...queryGatewayRoutes(query.service, options.logger)],
      ...(options.port === undefined ? {} : { port: options.port }),
    });
    return new LocalApis(server, broker, publisher, drainer, query);
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
