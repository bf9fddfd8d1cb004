/**
 * Names the game-day infrastructure (the resilience stack, the FIS Lambda extension on the functions it
 * targets) and the game-day runner (`local/gameday/fis.ts`) both rely on. No CDK import: the runner loads it.
 */

/** Tag keys of every FIS experiment template: the runner finds a template by these two. */
export const EXPERIMENT_TAGS = {
  environment: 'cdp:environment',
  scenario: 'cdp:scenario',
} as const;

/** Tag key that marks a resource as a target of one kind of experiment; the value names the kind. */
export const FAULT_TARGET_TAG = 'cdp:fault-target';

/** The values of {@link FAULT_TARGET_TAG}: which resources each experiment may select. */
export const FAULT_TARGETS = {
  shard: 'shard',
  index: 'index',
  dataSubnet: 'data-subnet',
  consumer: 'consumer',
  query: 'query',
} as const;
export type FaultTarget = (typeof FAULT_TARGETS)[keyof typeof FAULT_TARGETS];

/** One experiment of a game day; the id is the `cdp:scenario` tag of its template. */
export interface GameDayScenario {
  readonly id: string;
  /** The failure scenario (1-9, the README's failure table) it exercises. */
  readonly failureScenario: number;
  readonly description: string;
}

/** Every FIS experiment the resilience stack defines, in the order docs/game-days.md describes them. */
export const GAME_DAY_SCENARIOS = [
  {
    id: 'shard-failover',
    failureScenario: 3,
    description:
      'Fails over the writer of one Aurora shard cluster to its replica (aws:rds:failover-db-cluster)',
  },
  {
    id: 'redis-primary-loss',
    failureScenario: 4,
    description:
      "Cuts power to the Redis index's nodes in its primary's zone, promoting a replica " +
      '(aws:elasticache:replicationgroup-interrupt-az-power)',
  },
  {
    id: 'consumer-latency',
    failureScenario: 5,
    description: 'Delays half of the consumer invocations by 5 s (aws:lambda:invocation-add-delay)',
  },
  {
    id: 'consumer-errors',
    failureScenario: 2,
    description: 'Fails a fifth of the consumer invocations before they run (aws:lambda:invocation-error)',
  },
  {
    id: 'query-latency',
    failureScenario: 5,
    description: 'Delays half of the query invocations by 2 s (aws:lambda:invocation-add-delay)',
  },
  {
    id: 'query-errors',
    failureScenario: 5,
    description: 'Fails a fifth of the query invocations before they run (aws:lambda:invocation-error)',
  },
  {
    id: 'data-subnet-partition',
    failureScenario: 8,
    description:
      'Denies all traffic to and from the data subnet of one zone: shards, Redis and brokers there ' +
      '(aws:network:disrupt-connectivity)',
  },
  {
    id: 'kafka-broker-reboot',
    failureScenario: 1,
    description:
      'Reboots one MSK broker through an SSM Automation document calling kafka:RebootBroker ' +
      '(aws:ssm:start-automation-execution)',
  },
] as const satisfies readonly GameDayScenario[];

export type GameDayScenarioId = (typeof GAME_DAY_SCENARIOS)[number]['id'];

/** Key prefix in the configuration bucket where FIS writes, and the Lambda extension reads, fault settings. */
export const FAULT_CONFIGURATION_PREFIX = 'FisConfigs/';

/**
 * The FIS Lambda extension's configuration bucket of an environment. It is named, not referenced: the
 * functions that read it deploy before the resilience stack that owns it (which needs their alarms).
 */
export const faultConfigurationBucketName = (environment: {
  readonly name: string;
  readonly account: string;
  readonly region: string;
}): string => `cdp-${environment.name}-fis-config-${environment.account}-${environment.region}`;
