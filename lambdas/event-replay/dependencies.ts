import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { REPLAY_METRIC_NAMES } from '../shared/contracts/index.js';
import type { EventLogReader, EventLogWriter } from '../shared/replay/eventLog.js';
import { eventLogPolicy } from '../shared/replay/eventLogPolicy.js';
import { type ReplaySummary, runReplay } from '../shared/replay/replayRecords.js';
import { parseReplayRequest } from '../shared/replay/replayRequest.js';
import { type ReplaySettings, replaySettings } from '../shared/resilience/defaults.js';

export interface ReplayWiring {
  readonly eventLog: EventLogReader & EventLogWriter;
  readonly topic: string;
  readonly retryTopic: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings?: Partial<ReplaySettings>;
}

/** What a replay returns: the request as understood and what was copied. */
export interface ReplayResult {
  readonly topic: string;
  readonly targetTopic: string;
  readonly ranges: ReplaySummary['ranges'];
  readonly replayed: number;
}

/**
 * The event replay as a function of its input: validates it, copies the range to the retry topic,
 * counts `EventsReplayed`. Shared by the Lambda handler; the CLI uses the same request parser and copy.
 *
 * @throws {InvalidReplayRequestError} for a malformed request or a partition the topic does not have.
 * @throws {EventLogUnavailableError} or {EventLogRequestError} when the log fails.
 */
export function replayEvents(wiring: ReplayWiring): (input: unknown) => Promise<ReplayResult> {
  const policy = eventLogPolicy(replaySettings(wiring.settings));
  return async (input) => {
    const request = parseReplayRequest(input);
    wiring.logger.info('replay started', { request });
    const summary = await runReplay(
      {
        reader: wiring.eventLog,
        writer: wiring.eventLog,
        topic: wiring.topic,
        targetTopic: wiring.retryTopic,
        policy,
      },
      request,
    );
    wiring.metrics.addMetric(REPLAY_METRIC_NAMES.eventsReplayed, MetricUnit.Count, summary.replayed);
    wiring.metrics.publishStoredMetrics();
    wiring.logger.info('replay done', { ranges: summary.ranges, replayed: summary.replayed });
    return {
      topic: wiring.topic,
      targetTopic: wiring.retryTopic,
      ranges: summary.ranges,
      replayed: summary.replayed,
    };
  };
}
