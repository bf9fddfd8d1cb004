import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ROUTES, routeKey, versionedPath } from '../shared/contracts/index.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { type ApiProbeRequest, runApiProbe } from '../shared/probes/apiProbe.js';
import { PROBE_CUSTOMER_PREFIX, probeEvents } from '../shared/probes/consumerProbe.js';
import { type LifecycleHookEvent, reportProbe, versionInvoker } from '../shared/probes/preTrafficHook.js';
import { readEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'api-probe' });
const lambda = new LambdaClient({});
const codedeploy = new CodeDeployClient({});

/** The requests of each API's probe: ingest accepts a probe event; query never answers a probe customer. */
export function requestsFor(api: string): ApiProbeRequest[] {
  const customer = `${PROBE_CUSTOMER_PREFIX}api`;
  const ingestPath = versionedPath(ROUTES.ingestOne);
  if (api === 'ingest') {
    const [event] = probeEvents([customer], `probe-${Date.now()}`, new Date());
    return [
      { method: ROUTES.ingestOne.method, path: ingestPath, body: event, expectStatus: 202 },
      { method: ROUTES.ingestOne.method, path: ingestPath, body: { not: 'an event' }, expectStatus: 400 },
    ];
  }
  return [
    {
      method: ROUTES.customerById.method,
      path: versionedPath(ROUTES.customerById).replace('{customerId}', customer),
      routeKey: routeKey(ROUTES.customerById),
      pathParameters: { customerId: customer },
      expectStatus: 404,
    },
    {
      method: ROUTES.customerLookup.method,
      path: versionedPath(ROUTES.customerLookup),
      routeKey: routeKey(ROUTES.customerLookup),
      expectStatus: 400,
    },
  ];
}

/**
 * CodeDeploy's BeforeAllowTraffic hook of an API function (PROBED_API: `ingest` or `query`): sends the new
 * version (TARGET_VERSION_ARN) the requests of its probe as API Gateway would and reports Succeeded when each
 * answers its expected status, Failed otherwise.
 *
 * @throws the SDK's error when CodeDeploy cannot be told (the deployment then times out and rolls back).
 */
export const handler = lambdaHandler(async (event: LifecycleHookEvent) => {
  const env = readEnvironment();
  const api = env.probedApi;
  const report = await reportProbe(codedeploy, event, () =>
    runApiProbe(versionInvoker<APIGatewayProxyEventV2>(lambda, env.targetVersionArn), requestsFor(api)),
  );
  if (report.passed) logger.info('pre-traffic probe passed', { api, deploymentId: event.DeploymentId });
  else
    logger.error('pre-traffic probe failed', {
      api,
      deploymentId: event.DeploymentId,
      problems: report.problems,
    });
  return report;
}).use(injectLambdaContext(logger));
