import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { PlatformHttpApi } from '../../lib/constructs/PlatformHttpApi.js';
import {
  aliasRoutesOf,
  expectAlarmsNotifyEncryptedTopic,
  expectApiInvokePermissions,
  expectDataApiOnEachShard,
  expectGuardedDeployment,
  expectIamAuthorizedRoutes,
  expectLiveAliasRoutes,
  expectNoServiceWideAction,
  expectOnlyXRayOnAnyResource,
  expectPlatformFunction,
  REDIS_VARIABLES,
} from '../support/infraAssertions.js';
import { synthesize } from '../support/synth.js';
import {
  actionsOf,
  DEPLOYMENT_CONFIG_NAMES,
  importOfRef,
  joined,
  only,
  parseJoinedJson,
  type Resources,
  type Statement,
  statementsOf,
} from '../support/templateQueries.js';

describe.each(ENVIRONMENT_NAMES)('Query stack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const { query, consumer, stage, api: apiTemplate } = synthesize(name);
  const [functionId, fn] = only(query, 'AWS::Lambda::Function', 'QueryFunction');
  const [aliasId, alias] = only(query, 'AWS::Lambda::Alias');
  // The routes live in the API stack beside the ingest routes: those integrated with the query alias.
  const queryRoutes = aliasRoutesOf(apiTemplate, aliasId, importOfRef(`cdp-${name}-query`, aliasId));
  const alarmsById = query.findResources('AWS::CloudWatch::Alarm') as Resources;
  const alarmId = (fragment: string): string => only(query, 'AWS::CloudWatch::Alarm', fragment)[0];
  const keys = query.findResources('AWS::KMS::Key') as Resources;
  const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;

  it(`is a stateless stack named cdp-${name}-query, without termination protection`, () => {
    expect(stage.query.stackName).toBe(`cdp-${name}-query`);
    expect(stage.query.terminationProtection).toBe(false);
  });

  it('owns no API of its own: its routes are added to the shared API of the API stack', () => {
    query.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    query.resourceCountIs('AWS::ApiGatewayV2::Route', 0);
    expect(stage.api.dependencies).toContain(stage.query);
  });

  it('serves GET /v1/customers/{customerId} and GET /v1/customers, each requiring IAM (SigV4) authorization', () => {
    expectIamAuthorizedRoutes(queryRoutes, ['GET /v1/customers', 'GET /v1/customers/{customerId}']);
  });

  it('integrates every route with the live alias of the query function, payload format 2.0', () => {
    expectLiveAliasRoutes(queryRoutes, alias, functionId);
  });

  it('lets API Gateway invoke the alias only for the query routes of the API', () => {
    expectApiInvokePermissions(apiTemplate, queryRoutes, config, [
      '/v1/customers',
      '/v1/customers/{customerId}',
    ]);
    query.resourceCountIs('AWS::Lambda::Permission', 0);
  });

  it('runs the query function on nodejs22.x arm64 in the compute subnets, traced, within the API timeout', () => {
    expectPlatformFunction(fn, { MemorySize: 512, Timeout: 10 });
    expect(fn.Properties.Timeout as number).toBeLessThan(30);
  });

  it('hands the query function the same shard map as the consumer, the Redis endpoint and its secret', () => {
    const [, consumerFunction] = only(consumer, 'AWS::Lambda::Function', 'ConsumerFunction');
    const consumerVariables = (
      consumerFunction.Properties.Environment as { Variables: Record<string, unknown> }
    ).Variables;
    const shardMap = parseJoinedJson(variables.SHARD_MAP) as {
      version: number;
      shards: Array<{ id: string }>;
    };

    expect(shardMap.version).toBe(1);
    expect(shardMap.shards.map((s) => s.id)).toEqual(
      Array.from({ length: config.data.shardCount }, (_, i) => `shard-${i}`),
    );
    expect(shardMap).toEqual(parseJoinedJson(consumerVariables.SHARD_MAP));
    expect(variables).toMatchObject({
      ...REDIS_VARIABLES,
      POWERTOOLS_METRICS_NAMESPACE: 'CustomerDataPlatform',
      POWERTOOLS_SERVICE_NAME: 'query',
    });
  });

  it('grants the Data API on every shard, the Redis secret and the index description, and nothing wider', () => {
    const statements = statementsOf(query, 'QueryFunction');
    const elastiCache = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('elasticache:')));

    expectOnlyXRayOnAnyResource(statements);
    expectNoServiceWideAction(statements);
    expectDataApiOnEachShard(statements, config.data.shardCount);
    expect(elastiCache.flatMap(actionsOf)).toEqual(['elasticache:DescribeReplicationGroups']);
    expect(JSON.stringify(elastiCache[0]?.Resource)).toContain(':replicationgroup:');
    expect(statements.flatMap(actionsOf)).toEqual(
      expect.arrayContaining(['secretsmanager:GetSecretValue', 'kms:Decrypt']),
    );
    expect(statements.flatMap(actionsOf).some((a) => /^(kafka|sqs|rds:|execute-api)/.test(a))).toBe(false);
  });

  it(`deploys the alias with ${DEPLOYMENT_CONFIG_NAMES[name]}, rolled back by errors and p99 only`, () => {
    const { guardedAlarmIds } = expectGuardedDeployment(query, name);

    expect(guardedAlarmIds.sort()).toEqual([alarmId('Errors'), alarmId('Duration')].sort());
    expect(guardedAlarmIds).not.toContain(alarmId('FallbackMode'));
  });

  it('alarms on errors and p99 duration of the live alias at the configured thresholds', () => {
    expect(alarmsById[alarmId('Errors')]?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Threshold: config.alarms.functionErrors,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarmsById[alarmId('Duration')]?.Properties).toMatchObject({
      MetricName: 'Duration',
      ExtendedStatistic: 'p99',
      Threshold: config.alarms.durationP99Millis,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarms when every minute of three was answered in fallback mode', () => {
    expect(alarmsById[alarmId('FallbackMode')]?.Properties).toMatchObject({
      Namespace: 'CustomerDataPlatform',
      MetricName: 'FallbackMode',
      Dimensions: [{ Name: 'service', Value: 'query' }],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
  });

  it('notifies an encrypted, TLS-only SNS topic from every alarm, on alarm and on recovery', () => {
    expectAlarmsNotifyEncryptedTopic(query, { alarmCount: 3 });
  });

  it('keeps every key of the stack rotating', () => {
    for (const key of Object.values(keys)) expect(key.Properties.EnableKeyRotation).toBe(true);
  });
});

describe.each(ENVIRONMENT_NAMES)('API stack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const { api, stage } = synthesize(name);
  const [apiId, apiResource] = only(api, 'AWS::ApiGatewayV2::Api');

  it(`is one HTTP API, cdp-${name}-api, in a stack deployed after the stacks whose routes it serves`, () => {
    expect(stage.api.stackName).toBe(`cdp-${name}-api`);
    expect(stage.api.terminationProtection).toBe(false);
    expect(apiResource.Properties).toMatchObject({ Name: `cdp-${name}-api`, ProtocolType: 'HTTP' });
    expect(stage.api.dependencies).toEqual(expect.arrayContaining([stage.query, stage.ingest]));
  });

  it('requires IAM (SigV4) authorization on every route of every stack', () => {
    const routes = Object.values(api.findResources('AWS::ApiGatewayV2::Route') as Resources);

    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) {
      expect(route.Properties).toMatchObject({ ApiId: { Ref: apiId }, AuthorizationType: 'AWS_IAM' });
    }
  });

  it('throttles the $default stage at the configured rate and burst, deploying automatically', () => {
    api.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    api.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: apiId },
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: config.api.throttleRatePerSecond,
        ThrottlingBurstLimit: config.api.throttleBurst,
      },
    });
  });

  it('writes a JSON access log line per request, with the signing identity, to a KMS-encrypted log group', () => {
    const [, stageResource] = only(api, 'AWS::ApiGatewayV2::Stage');
    const settings = stageResource.Properties.AccessLogSettings as {
      DestinationArn: unknown;
      Format: string;
    };
    const [logGroupId, logGroup] = only(api, 'AWS::Logs::LogGroup', 'AccessLogs');
    const [keyId, key] = only(api, 'AWS::KMS::Key', 'AccessLogKey');
    const keyStatements = (key.Properties.KeyPolicy as { Statement: Statement[] }).Statement;
    const logsStatement = keyStatements.find((s) => JSON.stringify(s).includes('logs.'));

    expect(settings.DestinationArn).toEqual({ 'Fn::GetAtt': [logGroupId, 'Arn'] });
    expect(JSON.parse(settings.Format)).toMatchObject({
      requestId: '$context.requestId',
      userArn: '$context.identity.userArn',
      routeKey: '$context.routeKey',
      status: '$context.status',
      integrationLatency: '$context.integrationLatency',
    });
    expect(logGroup.Properties).toMatchObject({
      LogGroupName: `/aws/apigateway/cdp-${name}-api/access`,
      RetentionInDays: config.retention.logRetentionDays,
    });
    expect(logGroup.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(JSON.stringify(logsStatement?.Condition)).toContain(
      `log-group:/aws/apigateway/cdp-${name}-api/access`,
    );
  });

  it('publishes the base URL of the API', () => {
    api.hasOutput('ApiUrl', {
      Value: {
        'Fn::Join': [
          '',
          ['https://', { Ref: apiId }, Match.stringLikeRegexp('execute-api'), Match.anyValue(), '/'],
        ],
      },
    });
  });

  it('keeps every key of the stack rotating', () => {
    for (const key of Object.values(api.findResources('AWS::KMS::Key') as Resources)) {
      expect(key.Properties.EnableKeyRotation).toBe(true);
    }
  });
});

describe('PlatformHttpApi', () => {
  const setup = () => {
    const app = new App();
    const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
    const handler = (id: string) =>
      new lambda.Function(stack, id, {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 200 });'),
      }).addAlias('live');
    const api = new PlatformHttpApi(stack, 'Api', {
      apiName: 'test-api',
      throttle: { rateLimit: 10, burstLimit: 20 },
      accessLogRetentionDays: 7,
    });
    const v1 = handler('V1');
    api.addVersionedRoutes('v1', [
      { method: HttpMethod.GET, path: '/customers/{customerId}', handler: v1 },
      { method: HttpMethod.GET, path: '/customers', handler: v1 },
    ]);
    return { app, stack, api, handler };
  };
  const routesOf = (stack: Stack): Resources =>
    Template.fromStack(stack).findResources('AWS::ApiGatewayV2::Route') as Resources;
  const invokeArns = (stack: Stack, role: iam.Role): string[] => {
    const template = Template.fromStack(stack);
    const [, policy] = only(template, 'AWS::IAM::Policy', `${role.node.id}DefaultPolicy`);
    const statement = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement[0];
    expect(statement?.Action).toBe('execute-api:Invoke');
    return [statement?.Resource ?? []].flat().map(joined).sort();
  };
  const caller = (stack: Stack, id: string) =>
    new iam.Role(stack, id, { assumedBy: new iam.AccountRootPrincipal() });

  it('adds /v2 beside /v1 without changing a single /v1 resource', () => {
    // Prepare
    const before = setup();
    const after = setup();

    // Act
    after.api.addVersionedRoutes('v2', [
      { method: HttpMethod.GET, path: '/customers/{customerId}', handler: after.handler('V2') },
    ]);

    // Assess
    const v1Before = routesOf(before.stack);
    const routesAfter = routesOf(after.stack);
    expect(Object.fromEntries(Object.entries(routesAfter).filter(([id]) => id.includes('v1')))).toEqual(
      v1Before,
    );
    expect(Object.values(routesAfter).map((r) => r.Properties.RouteKey)).toContain(
      'GET /v2/customers/{customerId}',
    );
    for (const route of Object.values(routesAfter))
      expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  it('grants execute-api:Invoke on each route of one version, path parameters as *', () => {
    // Prepare
    const { stack, api, handler } = setup();
    api.addVersionedRoutes('v2', [{ method: HttpMethod.POST, path: '/customers', handler: handler('V2') }]);
    const v1Caller = caller(stack, 'V1Caller');
    const everyVersionCaller = caller(stack, 'AnyCaller');

    // Act
    api.grantInvoke(v1Caller, 'v1');
    api.grantInvoke(everyVersionCaller);

    // Assess
    const apiId = stack.getLogicalId(api.httpApi.node.defaultChild as CfnElement);
    const arn = (route: string) =>
      `arn:<token>:execute-api:eu-west-1:123456789012:<${apiId}>/$default/${route}`;
    expect(invokeArns(stack, v1Caller)).toEqual([arn('GET/v1/customers'), arn('GET/v1/customers/*')]);
    expect(invokeArns(stack, everyVersionCaller)).toEqual(
      [arn('GET/v1/customers'), arn('GET/v1/customers/*'), arn('POST/v2/customers')].sort(),
    );
  });

  it('fails synthesis when a granted version gains routes after the grant', () => {
    // Prepare
    const { app, stack, api, handler } = setup();
    api.grantInvoke(caller(stack, 'Caller'), 'v1');

    // Act
    api.addVersionedRoutes('v1', [
      { method: HttpMethod.DELETE, path: '/customers/{customerId}', handler: handler('Late') },
    ]);

    // Assess
    expect(() => app.synth()).toThrow(/routes of v1 were added after grantInvoke/);
  });

  it('refuses malformed versions and paths, duplicate routes and grants without routes', () => {
    const { api, stack, handler } = setup();
    const fn = handler('Other');

    expect(() => api.addVersionedRoutes('v0', [])).toThrow(/must be v1, v2/);
    expect(() => api.addVersionedRoutes('v1.5' as 'v1', [])).toThrow(/must be v1, v2/);
    expect(() =>
      api.addVersionedRoutes('v3', [{ method: HttpMethod.GET, path: 'customers', handler: fn }]),
    ).toThrow(/must start with \//);
    expect(() =>
      api.addVersionedRoutes('v1', [{ method: HttpMethod.GET, path: '/customers', handler: fn }]),
    ).toThrow('GET /v1/customers is already a route of this API');
    expect(() => api.grantInvoke(caller(stack, 'Early'), 'v9')).toThrow('No route of v9 to grant');
  });
});
