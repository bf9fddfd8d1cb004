import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contracts/index.js';
import { acknowledgeProviderFindings } from './acknowledgeProviderFindings.js';
import { PlatformFunction } from './PlatformFunction.js';

/** The shard schema's source: any change to it (a new migration) changes the resource and re-runs it. */
const MIGRATIONS_SOURCE = fileURLToPath(
  new URL('../../lambdas/shared/migrations/migrations.ts', import.meta.url),
);

/** The custom resource type shown in CloudFormation. */
export const SHARD_SCHEMA_RESOURCE_TYPE = 'Custom::ShardSchemaMigrations';

/**
 * sha256 of the migrations source file, read as text. Infrastructure code never imports handler code, so
 * the file's content stands for the migrations it declares.
 */
export const migrationsChecksum = (path: string = MIGRATIONS_SOURCE): string =>
  createHash('sha256').update(readFileSync(path, 'utf8')).digest('hex');

const SHARD_SCHEMA: MigratedSchema = {
  handlerName: 'shard-migrations',
  description: 'Applies the shard schema migrations to every shard',
  migrationsSource: MIGRATIONS_SOURCE,
  resourceType: SHARD_SCHEMA_RESOURCE_TYPE,
};

export interface ShardSchemaMigrationsProps {
  /** The shard map document (JSON, may hold tokens) the handler migrates, as given to it in SHARD_MAP. */
  readonly shardMap: string;
  readonly vpc: ec2.IVpc;
  /** Subnets with a route to the RDS Data API and Secrets Manager endpoints. */
  readonly subnets: ec2.SubnetSelection;
  /** Must be allowed to reach the interface endpoints (443). */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
  /** Retention of the migration function's and the provider's log groups, in days. */
  readonly logRetentionDays: number;
  /** What happens to those log groups on stack deletion. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Another schema kept the same way (such as the warehouse's, described as a one-entry shard map): the
   * handler under `lambdas/`, the migrations source whose checksum re-runs it, and the resource type.
   * @default - the shard schema: `shard-migrations`, `lambdas/shared/migrations/migrations.ts`
   */
  readonly schema?: MigratedSchema;
}

/** A schema applied by a migrations handler of the same shape as `lambdas/shard-migrations`. */
export interface MigratedSchema {
  /** Directory under `lambdas/` of the custom resource handler. */
  readonly handlerName: string;
  /** Shown on the handler function. */
  readonly description: string;
  /** Absolute path of the migrations source; its checksum is a resource property. */
  readonly migrationsSource: string;
  /** The custom resource type shown in CloudFormation (`Custom::...`). */
  readonly resourceType: string;
}

/**
 * Brings every shard to the latest schema on deployment: a custom resource whose handler
 * (`lambdas/shard-migrations`) runs the ordered, checksummed migrations on each shard through the Data API.
 * It runs again when the migrations or the shard map change; deleting it leaves the schema alone. Make the
 * code that needs the schema depend on {@link resource}, so it is never deployed ahead of its tables.
 *
 * The handler needs SQL on every shard: grant it with `DataStack.grantShardAccess(handler)`.
 */
export class ShardSchemaMigrations extends Construct {
  public readonly handler: PlatformFunction;
  public readonly provider: cr.Provider;
  public readonly resource: CustomResource;
  /** sha256 of the migrations source this resource was synthesized with. */
  public readonly checksum: string;

  public constructor(scope: Construct, id: string, props: ShardSchemaMigrationsProps) {
    super(scope, id);
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const schema = props.schema ?? SHARD_SCHEMA;

    this.handler = new PlatformFunction(this, 'Handler', {
      name: schema.handlerName,
      description: schema.description,
      vpc: props.vpc,
      subnets: props.subnets,
      securityGroups: props.securityGroups,
      logRetentionDays: props.logRetentionDays,
      logRemovalPolicy,
      environment: { [ENV.shardMap]: props.shardMap },
      // Shards migrate in parallel; a Data API call waits for a paused or failing-over writer.
      timeout: Duration.minutes(10),
      memorySize: 512,
    });

    // The framework function stays outside the VPC: it must reach CloudFormation's pre-signed S3 response URL.
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler.function,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', {
        retention: props.logRetentionDays,
        removalPolicy: logRemovalPolicy,
      }),
    });

    this.checksum = migrationsChecksum(schema.migrationsSource);
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: schema.resourceType,
      properties: {
        // A new shard, or a new migration, changes a property, so CloudFormation sends an Update.
        ShardMap: props.shardMap,
        MigrationsChecksum: this.checksum,
      },
    });

    acknowledgeProviderFindings(this.provider, this.handler, 'migration');
  }
}
