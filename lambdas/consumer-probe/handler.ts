import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { runConsumerProbe } from '../shared/probes/consumerProbe.js';
import { type LifecycleHookEvent, reportProbe, versionInvoker } from '../shared/probes/preTrafficHook.js';
import { parseShardMap, ShardRouter } from '../shared/sharding/index.js';
import { sqlClientFor } from '../shared/sql/sqlClientFor.js';
import { readEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'consumer-probe' });
const lambda = new LambdaClient({});
const codedeploy = new CodeDeployClient({});

/**
 * CodeDeploy's BeforeAllowTraffic hook of the consumer: applies a probe event for a reserved probe customer on
 * every shard through the new version (TARGET_VERSION_ARN) and reads each back, then reports Succeeded or
 * Failed. A failed probe stops the deployment before any traffic reaches the new version.
 *
 * @throws the SDK's error when CodeDeploy cannot be told (the deployment then times out and rolls back).
 */
export const handler = lambdaHandler(async (event: LifecycleHookEvent) => {
  const env = readEnvironment();
  const shardMap = parseShardMap(env.shardMap);
  const report = await reportProbe(codedeploy, event, () =>
    runConsumerProbe({
      invoke: versionInvoker(lambda, env.targetVersionArn),
      readGivenName: async (shardId, customerId) => {
        const shard = shardMap.shards.find((s) => s.id === shardId);
        if (shard === undefined) return null;
        const client = sqlClientFor(shard, 1);
        try {
          const { rows } = await client.query<{ given_name: string | null }>(
            'SELECT given_name FROM customers WHERE customer_id = :id',
            { id: customerId },
          );
          return rows[0]?.given_name ?? null;
        } finally {
          await client.close();
        }
      },
      router: new ShardRouter(shardMap),
      shardIds: shardMap.shards.map((s) => s.id),
      topic: env.topic,
      eventSourceArn: env.clusterArn,
    }),
  );
  if (report.passed) logger.info('pre-traffic probe passed', { deploymentId: event.DeploymentId });
  else
    logger.error('pre-traffic probe failed', { deploymentId: event.DeploymentId, problems: report.problems });
  return report;
}).use(injectLambdaContext(logger));
