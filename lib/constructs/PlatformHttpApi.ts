import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { allowLogsToUseKey } from './allowLogsToUseKey.js';

/** A major version of the API, the first segment of every path: `v1`, `v2`, ... */
export type ApiVersion = `v${number}`;

export interface VersionedRoute {
  readonly method: apigwv2.HttpMethod;
  /** Path below the version, starting with `/`; `{name}` marks a path parameter: `/customers/{customerId}`. */
  readonly path: string;
  /** What serves the route: a function alias, so that deployments shift its traffic, never `$LATEST`. */
  readonly handler: lambda.IFunction;
}

export interface PlatformHttpApiProps {
  /** Name of the API in API Gateway; also names its access log group. */
  readonly apiName: string;
  readonly description?: string;
  /** Stage-wide steady rate (requests per second) and burst; callers above them get 429. */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  /** Retention of the access log group, in days (a CloudWatch Logs retention value). */
  readonly accessLogRetentionDays: number;
  /**
   * Access log group on deletion; its key is kept whenever the logs are.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The route as API Gateway knows it: `GET /v1/customers/{customerId}`. */
interface RegisteredRoute {
  readonly version: ApiVersion;
  readonly method: apigwv2.HttpMethod;
  readonly path: string;
}

/**
 * One line of JSON per request: who called (the IAM identity that signed it), what it asked for, how it
 * ended and how long the integration took. No headers, query strings or bodies, so no customer data.
 */
const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  sourceIp: '$context.identity.sourceIp',
  callerAccountId: '$context.identity.accountId',
  caller: '$context.identity.caller',
  userArn: '$context.identity.userArn',
  userAgent: '$context.identity.userAgent',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  protocol: '$context.protocol',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
  errorType: '$context.error.responseType',
};

const VERSION = /^v[1-9]\d*$/;
const ROUTE_PATH = /^(\/([A-Za-z0-9._~-]+|\{[A-Za-z0-9_]+\+?\}))+$/;
const PATH_PARAMETER = /\{[^}]+\}/g;

/**
 * An API Gateway HTTP API whose every route requires IAM (SigV4) authorization: its callers are internal
 * services and platform engineers, all holding IAM identities, so there is no bearer token to issue or
 * rotate, and each caller is granted `execute-api:Invoke` on exactly the routes it needs
 * (see docs/adr/0005-api-iam-authorization.md). One `$default` stage, throttled, with JSON access logs in
 * a log group encrypted by its own rotating key.
 *
 * Routes are added a version at a time ({@link addVersionedRoutes}): `/v2` arrives beside `/v1` without
 * touching it, and callers are granted one version or all of them ({@link grantInvoke}).
 */
export class PlatformHttpApi extends Construct {
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly accessLogKey: kms.Key;
  private readonly authorizer = new HttpIamAuthorizer();
  private readonly registered: RegisteredRoute[] = [];
  private readonly integrations = new Map<lambda.IFunction, HttpLambdaIntegration>();
  private readonly grantedRouteCounts: Array<{ readonly version?: ApiVersion; readonly routes: number }> = [];

  public constructor(scope: Construct, id: string, props: PlatformHttpApiProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.httpApi = new apigwv2.HttpApi(this, 'Resource', {
      apiName: props.apiName,
      ...(props.description === undefined ? {} : { description: props.description }),
      // Also covers any route added to `httpApi` directly, outside addVersionedRoutes.
      defaultAuthorizer: this.authorizer,
      createDefaultStage: false,
    });

    const logGroupName = `/aws/apigateway/${props.apiName}/access`;
    this.accessLogKey = new kms.Key(this, 'AccessLogKey', {
      description: `Access logs of the ${props.apiName} HTTP API`,
      enableKeyRotation: true,
      removalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    allowLogsToUseKey(this.accessLogKey, logGroupName);
    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      logGroupName,
      retention: props.accessLogRetentionDays,
      encryptionKey: this.accessLogKey,
      removalPolicy,
    });

    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    this.node.addValidation({ validate: () => this.routesAddedAfterGrants() });
  }

  /** `https://<api id>.execute-api.<region>.amazonaws.com/`; append `v1/...`. */
  public get url(): string {
    return this.stage.url;
  }

  /**
   * Adds `routes` below `/<version>`, each integrated with its handler (payload format 2.0) and requiring
   * IAM authorization. API Gateway may invoke each handler for its own routes only.
   *
   * @throws {Error} when the version is not `v<positive integer>`, a path is malformed, or a route of the
   *   version already exists.
   */
  public addVersionedRoutes(version: ApiVersion, routes: readonly VersionedRoute[]): apigwv2.HttpRoute[] {
    if (!VERSION.test(version)) throw new Error(`API version "${version}" must be v1, v2, ...`);
    return routes.flatMap((route) => {
      if (!ROUTE_PATH.test(route.path)) {
        throw new Error(
          `${version}: route path "${route.path}" must start with / and hold segments or {params}`,
        );
      }
      const path = `/${version}${route.path}`;
      if (this.registered.some((r) => r.method === route.method && r.path === path)) {
        throw new Error(`${route.method} ${path} is already a route of this API`);
      }
      this.registered.push({ version, method: route.method, path });
      return this.httpApi.addRoutes({
        path,
        methods: [route.method],
        integration: this.integrationOf(route.handler),
        authorizer: this.authorizer,
      });
    });
  }

  /**
   * Lets `grantee` call every route of `version` (of every version when omitted), one `execute-api:Invoke`
   * resource per route with path parameters as `*`. Routes added later are not covered: synthesis fails
   * if a granted version gains routes after the grant.
   *
   * @throws {Error} when there is no route to grant yet.
   */
  public grantInvoke(grantee: iam.IGrantable, version?: ApiVersion): iam.Grant {
    const routes = this.registered.filter((r) => version === undefined || r.version === version);
    if (routes.length === 0) {
      throw new Error(`No route${version === undefined ? '' : ` of ${version}`} to grant; add routes first`);
    }
    this.grantedRouteCounts.push({ ...(version === undefined ? {} : { version }), routes: routes.length });
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: routes.map((r) =>
        this.httpApi.arnForExecuteApi(r.method, r.path.replace(PATH_PARAMETER, '*'), this.stage.stageName),
      ),
    });
  }

  /** One integration per handler, shared by its routes; API Gateway's invoke permission stays per route. */
  private integrationOf(handler: lambda.IFunction): HttpLambdaIntegration {
    const existing = this.integrations.get(handler);
    if (existing !== undefined) return existing;
    const integration = new HttpLambdaIntegration(`Integration${this.integrations.size}`, handler, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    this.integrations.set(handler, integration);
    return integration;
  }

  private routesAddedAfterGrants(): string[] {
    return this.grantedRouteCounts
      .filter(
        ({ version, routes }) =>
          this.registered.filter((r) => version === undefined || r.version === version).length !== routes,
      )
      .map(
        ({ version }) =>
          `${this.node.path}: routes of ${version ?? 'the API'} were added after grantInvoke; ` +
          'grant after adding every route so that callers can reach them',
      );
  }
}
