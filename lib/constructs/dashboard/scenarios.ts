/** The nine failure scenarios of the platform (README, docs/operations.md), in the dashboard's order. */
export const DASHBOARD_SECTIONS = [
  { scenario: 1, title: 'Kafka unavailable' },
  { scenario: 2, title: 'Consumer crashes' },
  { scenario: 3, title: 'Shard fails' },
  { scenario: 4, title: 'Redis index fails' },
  { scenario: 5, title: 'One service slow' },
  { scenario: 6, title: 'Message volume spike' },
  { scenario: 7, title: 'Deployment introduces a bug' },
  { scenario: 8, title: 'Network partition' },
  { scenario: 9, title: 'ETL fails' },
] as const;

export type Scenario = (typeof DASHBOARD_SECTIONS)[number]['scenario'];

/** The header of the overview, above the status of every alarm of the environment. */
export const ALARM_OVERVIEW_TITLE = 'Alarms';

/** The markdown header of a scenario's section, as it appears in the dashboard body. */
export const sectionHeader = (scenario: Scenario): string => {
  const section = DASHBOARD_SECTIONS.find((s) => s.scenario === scenario);
  return `§${scenario} ${section?.title ?? ''}`;
};
