/** The nine failure scenarios of the platform's design, as alarm names spell them. */
export const FAILURE_SCENARIOS = {
  1: 'kafka-unavailable',
  2: 'consumer-crash',
  3: 'shard-failure',
  4: 'redis-failure',
  5: 'slow-service',
  6: 'volume-spike',
  7: 'bad-deployment',
  8: 'network-partition',
  9: 'etl-failure',
} as const;

export type FailureScenario = keyof typeof FAILURE_SCENARIOS;

/** `cdp-prod-s3-shard-failure-write-failures`: an operator reads the scenario off the alarm's name. */
export const scenarioAlarmName = (namePrefix: string, scenario: FailureScenario, what: string): string =>
  `${namePrefix}-s${scenario}-${FAILURE_SCENARIOS[scenario]}-${what}`;
