export { type ApiRoute, type ApiRouterOptions, createApiRouter, type HttpApi } from './createApiRouter.js';
export {
  type ApiErrorBody,
  type ApiErrorCode,
  type ApiResponse,
  type ErrorResponseOptions,
  errorResponse,
  type FieldIssue,
  jsonResponse,
} from './errorBody.js';
export { type ApiRequest, pathOf, requestOf } from './gatewayRequest.js';
