export { API_GATEWAY_LIMITS, ApiGatewayServer, type ApiGatewayServerOptions } from './ApiGatewayServer.js';
export {
  ApiGatewayError,
  type ApiGatewayErrorContext,
  type ApiGatewayErrorOptions,
  FunctionTimeoutError,
  GatewayListenError,
  InvalidGatewayOptionError,
  InvalidRouteError,
  MalformedIntegrationResponseError,
} from './errors.js';
export { buildGatewayEvent, isTextBody, parseTarget, type ReceivedRequest } from './gatewayEvent.js';
export { GATEWAY_ERRORS, type GatewayResponse, gatewayError, toGatewayResponse } from './gatewayResponse.js';
export { INGEST_FUNCTION_NAME, ingestGatewayRoutes, logPublisher } from './ingestApi.js';
export {
  DEFAULT_ROUTE_KEY,
  type GatewayHandler,
  type GatewayRoute,
  type RouteMatch,
  RouteTable,
} from './RouteTable.js';
