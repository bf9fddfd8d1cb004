export {
  type BrokerFault,
  type BrokerStats,
  FaultyLocalBroker,
  type FaultyLocalBrokerOptions,
} from './FaultyLocalBroker.js';
export {
  LOCAL_SPILLOVER_GROUP,
  LOCAL_SPILLOVER_TOPIC,
  LocalLogSpillover,
  type LocalLogSpilloverOptions,
} from './LocalLogSpillover.js';
