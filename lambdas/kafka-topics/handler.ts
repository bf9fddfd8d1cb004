import { Logger } from '@aws-lambda-powertools/logger';
import { KafkaClient } from '@aws-sdk/client-kafka';
import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import { z } from 'zod';
import { mskClusterArnOf } from '../shared/aws/arn.js';
import { getIamBootstrapBrokers } from '../shared/kafka/bootstrapBrokers.js';
import { createKafka } from '../shared/kafka/createKafka.js';
import { InvalidTopicRequestError, KafkaAdminError } from '../shared/kafka/errors.js';
import type { DesiredTopic } from '../shared/kafka/planTopicChanges.js';
import { type ReconcileResult, reconcileTopics, type TopicAdmin } from '../shared/kafka/reconcileTopics.js';
import { BOOTSTRAP_POLICY, TOPIC_RECONCILE_POLICY } from '../shared/resilience/defaults.js';
import { type KafkaPolicy, kafkaPolicy } from '../shared/resilience/named.js';

const logger = new Logger();

/** Shown in broker logs for connections of this function. */
export const CLIENT_ID = 'cdp-topic-manager';

const topicSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/),
  partitions: z.number().int().min(1),
  retentionHours: z.number().int().min(1),
});

const topicsJson = z.string().transform((text, ctx): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON array of topics' });
    return z.NEVER;
  }
});

/** The custom resource's properties; CloudFormation passes them as strings. */
const propertiesSchema = z.object({
  ClusterArn: z.string().refine((arn) => mskClusterArnOf(arn) !== undefined, {
    error: 'must be an MSK cluster ARN',
  }),
  Topics: topicsJson.pipe(z.array(topicSchema).min(1)),
});

/** The IAM token must be signed for the cluster's region, which its ARN names. */
const regionOf = (arn: string): string => mskClusterArnOf(arn)?.region ?? '';

export interface TopicRequest {
  readonly clusterArn: string;
  readonly topics: readonly DesiredTopic[];
}

/**
 * Reads the custom resource's properties.
 *
 * @throws {InvalidTopicRequestError} naming each invalid property.
 */
export function parseTopicRequest(properties: unknown): TopicRequest {
  const parsed = propertiesSchema.safeParse(properties);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new InvalidTopicRequestError(`Invalid topic request: ${issues.join('; ')}`, {
      context: { issues },
    });
  }
  return { clusterArn: parsed.data.ClusterArn, topics: parsed.data.Topics };
}

/** Stable per cluster: a new cluster means a new resource, and the old one's Delete keeps its topics. */
export const physicalResourceIdOf = (clusterArn: string): string => `${clusterArn}/topics`;

export interface TopicManagerDependencies {
  readonly kafkaClient: KafkaClient;
  /** Builds an admin client for the IAM bootstrap brokers of a cluster in `region`. */
  readonly createAdmin: (brokers: readonly string[], region: string) => TopicAdmin;
  readonly bootstrapPolicy: KafkaPolicy;
  readonly reconcilePolicy: KafkaPolicy;
}

/** Connects, runs `work` and always disconnects, also when the attempt is abandoned by its timeout. */
async function withAdmin<T>(
  admin: TopicAdmin,
  signal: AbortSignal,
  work: (admin: TopicAdmin) => Promise<T>,
): Promise<T> {
  const disconnect = (): void => {
    admin.disconnect().catch((error: unknown) => logger.warn('Disconnect failed', { error }));
  };
  signal.addEventListener('abort', disconnect, { once: true });
  try {
    await admin.connect();
    return await work(admin);
  } finally {
    signal.removeEventListener('abort', disconnect);
    disconnect();
  }
}

const summaryOf = (result: ReconcileResult): Record<string, string> => ({
  Created: result.created.join(','),
  PartitionsAdded: result.partitionsAdded.join(','),
  Reconfigured: result.reconfigured.join(','),
  Unchanged: result.unchanged.join(','),
});

/**
 * The onEvent handler of the topic custom resource. Create and Update converge the cluster's topics
 * with the configuration; Delete keeps every topic, because deleting a topic deletes its data.
 */
export function createHandler(
  deps: TopicManagerDependencies,
): (event: CdkCustomResourceEvent) => Promise<CdkCustomResourceResponse> {
  return async (event) => {
    logger.appendKeys({ requestType: event.RequestType, logicalResourceId: event.LogicalResourceId });
    try {
      if (event.RequestType === 'Delete') {
        logger.info('Stack no longer manages the topics; keeping them and their data', {
          physicalResourceId: event.PhysicalResourceId,
        });
        return { PhysicalResourceId: event.PhysicalResourceId };
      }

      const { clusterArn, topics } = parseTopicRequest(event.ResourceProperties);
      const brokers = await deps.bootstrapPolicy.execute(({ signal }) =>
        getIamBootstrapBrokers(deps.kafkaClient, clusterArn, signal),
      );
      logger.info('Reconciling topics', { clusterArn, brokers, topics });
      const result = await deps.reconcilePolicy.execute(({ signal }) =>
        withAdmin(deps.createAdmin(brokers, regionOf(clusterArn)), signal, (admin) =>
          reconcileTopics(admin, topics, logger),
        ),
      );
      logger.info('Topics reconciled', { result });
      return { PhysicalResourceId: physicalResourceIdOf(clusterArn), Data: summaryOf(result) };
    } catch (error: unknown) {
      const context = error instanceof KafkaAdminError ? error.context : {};
      logger.error('Topic management failed', { error, context });
      throw error;
    } finally {
      logger.removeKeys(['requestType', 'logicalResourceId']);
    }
  };
}

export const handler = createHandler({
  kafkaClient: new KafkaClient({}),
  createAdmin: (brokers, region) => createKafka({ brokers, clientId: CLIENT_ID, region, logger }).admin(),
  bootstrapPolicy: kafkaPolicy(BOOTSTRAP_POLICY),
  reconcilePolicy: kafkaPolicy(TOPIC_RECONCILE_POLICY),
});
