import { CfnOutput } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PlatformHttpApi } from '../constructs/PlatformHttpApi.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';

export type ApiStackProps = PlatformStackProps;

/**
 * The platform's one HTTP API: IAM (SigV4) authorized, throttled per stage, access-logged to an encrypted
 * log group. Callers sign for one host whatever they call.
 *
 * The stacks that own the functions add their `/v1` routes to {@link ApiStack.api}. The routes, their
 * integrations and API Gateway's invoke permissions are children of the API, so they are synthesized in
 * this stack and import the functions' alias ARNs: this stack deploys after the query and ingest stacks,
 * and those stacks must not reference the API in return (that would be a cycle).
 */
export class ApiStack extends PlatformStack {
  public readonly api: PlatformHttpApi;

  public constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config } = this;

    this.api = new PlatformHttpApi(this, 'Api', {
      apiName: `cdp-${config.name}-api`,
      description: `Customer data platform (${config.name}): customer queries and event ingestion, IAM authorized`,
      throttle: { rateLimit: config.api.throttleRatePerSecond, burstLimit: config.api.throttleBurst },
      accessLogRetentionDays: config.retention.logRetentionDays,
      removalPolicy: removalPolicyOf(config.retention),
    });

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the platform API; requests must be signed with SigV4 (service execute-api)',
      value: this.api.url,
    });
  }
}
