import { Match, type Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import type { EnvironmentName } from '../../lib/config/index.js';
import {
  actionsOf,
  DEPLOYMENT_CONFIG_NAMES,
  joined,
  only,
  type Resource,
  type Resources,
  referencedId,
  type Statement,
} from './templateQueries.js';

/** The Redis endpoint and AUTH secret a function that reads the index is told: imports of the data stack. */
export const REDIS_VARIABLES = {
  REDIS_HOST: { 'Fn::ImportValue': expect.stringMatching('PrimaryEndPointAddress') },
  REDIS_PORT: { 'Fn::ImportValue': expect.stringMatching('PrimaryEndPointPort') },
  REDIS_AUTH_SECRET_ARN: { 'Fn::ImportValue': expect.stringMatching('IndexAuthToken') },
};

/**
 * Asserts a function of the platform: nodejs22.x on arm64, traced, in the three compute subnets behind the
 * compute security group, with the given size (MemorySize left unchecked when not given).
 */
export function expectPlatformFunction(
  fn: Resource,
  sizing: { readonly MemorySize?: number; readonly Timeout: number },
): void {
  expect(fn.Properties).toMatchObject({
    Runtime: 'nodejs22.x',
    Architectures: ['arm64'],
    ...sizing,
    TracingConfig: { Mode: 'Active' },
    VpcConfig: {
      SecurityGroupIds: [{ 'Fn::ImportValue': expect.stringMatching('ComputeSg') }],
      SubnetIds: [1, 2, 3].map((n) => ({
        'Fn::ImportValue': expect.stringMatching(new RegExp(`VpccomputeSubnet${n}`)),
      })),
    },
  });
}

/**
 * Asserts the single CodeDeploy deployment group of `template`: the environment's deployment configuration,
 * rolled back on failure, on request and on alarm.
 * @returns the group's logical id and resource, and the logical ids of the alarms it watches.
 */
export function expectGuardedDeployment(
  template: Template,
  name: EnvironmentName,
): { groupId: string; group: Resource; guardedAlarmIds: Array<string | undefined> } {
  const [groupId, group] = only(template, 'AWS::CodeDeploy::DeploymentGroup');
  const guardedAlarmIds = (
    group.Properties.AlarmConfiguration as { Alarms: Array<{ Name: unknown }> }
  ).Alarms.map((alarm) => referencedId(alarm.Name));

  expect(group.Properties).toMatchObject({
    DeploymentConfigName: DEPLOYMENT_CONFIG_NAMES[name],
    AutoRollbackConfiguration: {
      Enabled: true,
      Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_REQUEST', 'DEPLOYMENT_STOP_ON_ALARM'],
    },
  });
  return { groupId, group, guardedAlarmIds };
}

/**
 * Asserts that every alarm of `template` notifies its single SNS topic on alarm and on recovery, that the
 * topic's key rotates, and that the topic policy denies requests not made over TLS, besides `statements`.
 * `alarmCount` is checked when given.
 */
export function expectAlarmsNotifyEncryptedTopic(
  template: Template,
  { alarmCount, statements = [] }: { readonly alarmCount?: number; readonly statements?: unknown[] } = {},
): void {
  const [topicId, topic] = only(template, 'AWS::SNS::Topic');
  const alarms = template.findResources('AWS::CloudWatch::Alarm') as Resources;
  const keys = template.findResources('AWS::KMS::Key') as Resources;

  if (alarmCount !== undefined) expect(Object.keys(alarms)).toHaveLength(alarmCount);
  for (const alarm of Object.values(alarms)) {
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
  }
  expect(keys[referencedId(topic.Properties.KmsMasterKeyId) ?? '']?.Properties.EnableKeyRotation).toBe(true);
  template.hasResourceProperties('AWS::SNS::TopicPolicy', {
    Topics: [{ Ref: topicId }],
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ...statements,
      ]),
    },
  });
}

/** Asserts that no statement grants anything on Resource "*" but X-Ray's telemetry and trace segments. */
export function expectOnlyXRayOnAnyResource(statements: Statement[]): void {
  expect(
    statements
      .filter((s) => [s.Resource].flat().includes('*'))
      .flatMap(actionsOf)
      .sort(),
  ).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
}

/** Asserts that no statement grants a whole service (`service:*`) or every action (`*`). */
export function expectNoServiceWideAction(statements: Statement[]): void {
  expect(statements.flatMap(actionsOf).filter((a) => a.endsWith(':*') || a === '*')).toEqual([]);
}

/** Asserts one Data API statement per shard, each on an Aurora cluster. */
export function expectDataApiOnEachShard(statements: Statement[], shardCount: number): void {
  const rdsData = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('rds-data:')));

  expect(rdsData).toHaveLength(shardCount);
  for (const statement of rdsData) expect(JSON.stringify(statement.Resource)).toMatch(/:rds:.*:cluster:/);
}

/** The routes of the shared API integrated with one live alias, with their integrations. */
export interface AliasRoutes {
  readonly apiId: string;
  readonly aliasId: string;
  /** How the API stack refers to the alias: the import of its export. */
  readonly aliasImport: unknown;
  readonly integrations: Array<[string, Resource]>;
  /** The integrations whose URI is the alias. */
  readonly integrationIds: string[];
  /** The routes whose target is one of those integrations. */
  readonly routes: Resource[];
}

/** The routes of the single HTTP API in `api` that reach alias `aliasId` (imported as `aliasImport`). */
export function aliasRoutesOf(api: Template, aliasId: string, aliasImport: unknown): AliasRoutes {
  const [apiId] = only(api, 'AWS::ApiGatewayV2::Api');
  const integrations = Object.entries(api.findResources('AWS::ApiGatewayV2::Integration') as Resources);
  const integrationIds = integrations
    .filter(([, integration]) =>
      JSON.stringify(integration.Properties.IntegrationUri).includes(`Ref${aliasId}`),
    )
    .map(([id]) => id);
  const routes = Object.values(api.findResources('AWS::ApiGatewayV2::Route') as Resources).filter((route) =>
    integrationIds.includes(referencedId(route.Properties.Target) ?? ''),
  );
  return { apiId, aliasId, aliasImport, integrations, integrationIds, routes };
}

/** Asserts that the routes are exactly `routeKeys`, each on the API, requiring IAM (SigV4) authorization. */
export function expectIamAuthorizedRoutes({ apiId, routes }: AliasRoutes, routeKeys: string[]): void {
  expect(routes.map((route) => route.Properties.RouteKey).sort()).toEqual(routeKeys);
  for (const route of routes) {
    expect(route.Properties).toMatchObject({ ApiId: { Ref: apiId }, AuthorizationType: 'AWS_IAM' });
  }
}

/**
 * Asserts that one AWS_PROXY integration, payload format 2.0, carries every route to the alias, and that the
 * alias is the `live` alias of `functionId`.
 */
export function expectLiveAliasRoutes(
  { apiId, aliasImport, integrations, integrationIds, routes }: AliasRoutes,
  alias: Resource,
  functionId: string,
): void {
  expect(integrationIds).toHaveLength(1);
  const [integrationId] = integrationIds;
  const integration = integrations.find(([id]) => id === integrationId)?.[1];

  expect(integration?.Properties).toEqual({
    ApiId: { Ref: apiId },
    IntegrationType: 'AWS_PROXY',
    IntegrationUri: aliasImport,
    PayloadFormatVersion: '2.0',
  });
  for (const route of routes) {
    expect(route.Properties.Target).toEqual({
      'Fn::Join': ['', ['integrations/', { Ref: integrationId }]],
    });
  }
  expect(alias.Properties).toMatchObject({ Name: 'live', FunctionName: { Ref: functionId } });
}

/**
 * Asserts that API Gateway may invoke the alias exactly for `paths` of the API (any stage, any method),
 * one permission each, in the account and region given.
 */
export function expectApiInvokePermissions(
  api: Template,
  { apiId, aliasId, aliasImport }: AliasRoutes,
  { region, account }: { readonly region: string; readonly account: string },
  paths: string[],
): void {
  const permissions = Object.values(api.findResources('AWS::Lambda::Permission') as Resources).filter(
    (permission) => JSON.stringify(permission.Properties.FunctionName).includes(`Ref${aliasId}`),
  );

  expect(permissions).toHaveLength(paths.length);
  for (const permission of permissions) {
    expect(permission.Properties).toMatchObject({
      Action: 'lambda:InvokeFunction',
      FunctionName: aliasImport,
      Principal: 'apigateway.amazonaws.com',
    });
  }
  expect(permissions.map((p) => joined(p.Properties.SourceArn)).sort()).toEqual(
    paths.map((path) => `arn:<token>:execute-api:${region}:${account}:<${apiId}>/*/*${path}`),
  );
}
