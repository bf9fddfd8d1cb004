export { type Delay, MAX_QUEUED_BYTES } from './Channel.js';
export {
  FaultProxyError,
  type FaultProxyErrorContext,
  type FaultProxyErrorOptions,
  InvalidFaultOptionError,
  ProxyListenError,
} from './errors.js';
export {
  type Fault,
  FaultProxy,
  type FaultProxyOptions,
  type FaultProxyStats,
  type LatencyOptions,
  type ProxyTarget,
} from './FaultProxy.js';
