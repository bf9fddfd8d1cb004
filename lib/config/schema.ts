import { z } from 'zod';
import { checkPollerSizing, consumerSchema } from './consumerSchema.js';
import {
  alarmsSchema,
  apiSchema,
  deploymentSchema,
  ingestSchema,
  resilienceSchema,
  retentionSchema,
  scenarioAlarmsSchema,
} from './operationsSchema.js';
import { streamingSchema } from './streamingSchema.js';
import { checkWorkflows, workflowsSchema } from './workflowsSchema.js';

export { POLLER_MB_PER_SECOND } from './consumerSchema.js';
export type { TopicConfig } from './streamingSchema.js';

export const ENVIRONMENT_NAMES = ['dev', 'uat', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENT_NAMES)[number];

export const environmentConfigSchema = z
  .strictObject({
    name: z.enum(ENVIRONMENT_NAMES),
    /**
     * The environment serves customers: validation holds it to the production rules (at least 4 shards and
     * 2 readers per shard, deletion protection, retained data and logs, termination protection, canary or
     * linear deployments).
     */
    production: z.boolean(),
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
    region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as eu-west-1'),
    availabilityZoneCount: z.number().int().min(2).max(6),
    network: z.strictObject({
      cidr: z
        .string()
        .regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/, 'must be an IPv4 CIDR between /16 and /24'),
      flowLogRetentionDays: z.number().int().positive(),
    }),
    streaming: streamingSchema,
    data: z.strictObject({
      shardCount: z.number().int().min(1, 'must be at least 1').max(32),
      aurora: z.strictObject({
        engineVersion: z.string().regex(/^1[5-7]\.\d+$/, 'must be an Aurora PostgreSQL version such as 16.6'),
        minCapacityAcu: z.number().min(0).max(256),
        maxCapacityAcu: z.number().min(1).max(256),
        readersPerShard: z
          .number()
          .int()
          .min(1, 'each shard needs at least one replica to fail over to')
          .max(15),
        backupRetentionDays: z.number().int().min(1).max(35),
        deletionProtection: z.boolean(),
        retainOnDelete: z.boolean(),
        secretRotationDays: z.number().int().min(1).max(365),
        port: z.number().int().min(1150).max(65535),
      }),
      cache: z.strictObject({
        engineVersion: z.string().regex(/^\d+\.\d+$/),
        nodeType: z.string().regex(/^cache\.[a-z0-9]+\.[a-z0-9]+$/, 'must be an ElastiCache node type'),
        replicasPerNodeGroup: z.number().int().min(1, 'automatic failover needs at least one replica').max(5),
        snapshotRetentionDays: z.number().int().min(1).max(35),
        port: z.number().int().min(1024).max(65535),
      }),
    }),
    deployment: deploymentSchema,
    alarms: alarmsSchema,
    scenarioAlarms: scenarioAlarmsSchema,
    consumer: consumerSchema,
    api: apiSchema,
    ingest: ingestSchema,
    workflows: workflowsSchema,
    retention: retentionSchema,
    resilience: resilienceSchema,
  })
  .superRefine((cfg, ctx) => {
    if (cfg.streaming.brokerCount % cfg.availabilityZoneCount !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['streaming', 'brokerCount'],
        message: `must be a multiple of availabilityZoneCount (${cfg.availabilityZoneCount}), got ${cfg.streaming.brokerCount}`,
      });
    }
    if (cfg.data.aurora.maxCapacityAcu < cfg.data.aurora.minCapacityAcu) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'aurora', 'maxCapacityAcu'],
        message: `must be >= minCapacityAcu (${cfg.data.aurora.minCapacityAcu})`,
      });
    }
    if (cfg.data.aurora.readersPerShard + 1 > cfg.availabilityZoneCount) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'aurora', 'readersPerShard'],
        message: `writer plus ${cfg.data.aurora.readersPerShard} readers cannot sit in distinct AZs with only ${cfg.availabilityZoneCount} AZs`,
      });
    }
    if (cfg.data.cache.replicasPerNodeGroup + 1 > cfg.availabilityZoneCount) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'cache', 'replicasPerNodeGroup'],
        message: `primary plus ${cfg.data.cache.replicasPerNodeGroup} replicas cannot sit in distinct AZs with only ${cfg.availabilityZoneCount} AZs`,
      });
    }
    const names = cfg.streaming.topics.map((t) => t.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) {
        ctx.addIssue({
          code: 'custom',
          path: ['streaming', 'topics', i, 'name'],
          message: `duplicate topic ${name}`,
        });
      }
    });
    if (!names.includes(cfg.consumer.topic)) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'topic'],
        message: `must be one of streaming.topics (${names.join(', ')}), got ${cfg.consumer.topic}`,
      });
    }
    if (!names.includes(cfg.consumer.retryTopic)) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'retryTopic'],
        message: `must be one of streaming.topics (${names.join(', ')}), got ${cfg.consumer.retryTopic}`,
      });
    } else if (cfg.consumer.retryTopic === cfg.consumer.topic) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'retryTopic'],
        message: 'must differ from consumer.topic: parked records would be parked again forever',
      });
    }
    if (cfg.ingest.spillDepthAlarm >= cfg.ingest.spilloverMaxDepth) {
      ctx.addIssue({
        code: 'custom',
        path: ['ingest', 'spillDepthAlarm'],
        message: `must be below spilloverMaxDepth (${cfg.ingest.spilloverMaxDepth}), so operators hear before requests are refused`,
      });
    }
    if (cfg.consumer.maximumPollers < cfg.consumer.minimumPollers) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'maximumPollers'],
        message: `must be >= minimumPollers (${cfg.consumer.minimumPollers})`,
      });
    }
    checkPollerSizing(cfg, ctx);
    checkWorkflows(cfg, ctx);
    if (cfg.production) {
      const prodRules: Array<[boolean, (string | number)[], string]> = [
        [cfg.data.shardCount >= 4, ['data', 'shardCount'], 'prod needs at least 4 shards'],
        [
          cfg.data.aurora.readersPerShard >= 2,
          ['data', 'aurora', 'readersPerShard'],
          'prod needs at least 2 readers per shard',
        ],
        [
          cfg.data.aurora.deletionProtection,
          ['data', 'aurora', 'deletionProtection'],
          'must be true in prod',
        ],
        [cfg.data.aurora.retainOnDelete, ['data', 'aurora', 'retainOnDelete'], 'must be true in prod'],
        [
          cfg.deployment.strategy !== 'allAtOnce',
          ['deployment', 'strategy'],
          'prod deploys by canary or linear shifting',
        ],
        [cfg.retention.removalPolicy === 'retain', ['retention', 'removalPolicy'], 'must be retain in prod'],
        [cfg.retention.terminationProtection, ['retention', 'terminationProtection'], 'must be true in prod'],
      ];
      for (const [ok, path, message] of prodRules) {
        if (!ok) ctx.addIssue({ code: 'custom', path, message });
      }
    }
  });

export type EnvironmentConfig = Readonly<z.infer<typeof environmentConfigSchema>>;
export type WorkflowsConfig = EnvironmentConfig['workflows'];
export type DeploymentStrategy = EnvironmentConfig['deployment']['strategy'];
export type RetentionConfig = EnvironmentConfig['retention'];

/** Whether the environment runs FIS game days. */
export const resilienceEnabled = (config: EnvironmentConfig): boolean => config.resilience.enabled;
