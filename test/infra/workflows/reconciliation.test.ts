import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES } from '../../../lib/config/index.js';
import { EVENT_LOG_GROUP_PREFIX } from '../../../lib/stacks/WorkflowsStack.js';
import { actionsOf, joined, only } from '../../support/templateQueries.js';

import {
  pascal,
  RECONCILIATION_STEPS,
  rateOf,
  WORKFLOW_VARIABLES,
  workflowsFixture,
} from '../../support/workflowsTemplate.js';

describe.each(ENVIRONMENT_NAMES)('Workflows and warehouse stacks (%s)', (name) => {
  const { config, reconciliationConfig, workflows, reconciliationId, functionOf, variablesOf, policyOf } =
    workflowsFixture(name);

  describe('reconciliation', () => {
    it(`runs every ${reconciliationConfig.intervalMinutes} minutes from EventBridge Scheduler`, () => {
      const [, schedule] = only(workflows, 'AWS::Scheduler::Schedule', 'ReconciliationSchedule');
      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: rateOf(reconciliationConfig.intervalMinutes),
        GroupName: `cdp-${name}-workflows`,
        Target: { Arn: { Ref: reconciliationId }, Input: '{}' },
      });
    });

    it(`starts when an alarm of cdp-${name} other than its own returns from ALARM to OK`, () => {
      const [, rule] = only(workflows, 'AWS::Events::Rule', 'AlarmRecovered');

      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        account: [config.account],
        region: [config.region],
        resources: [
          {
            prefix: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  `:cloudwatch:${config.region}:${config.account}:alarm:cdp-${name}-`,
                ],
              ],
            },
          },
        ],
        detail: {
          // Its own alarms would restart it after every failed run: excluded.
          alarmName: [{ 'anything-but': { prefix: `cdp-${name}-workflows-` } }],
          state: { value: ['OK'] },
          previousState: { value: ['ALARM'] },
        },
      });
      expect(rule.Properties.Targets).toEqual([
        expect.objectContaining({ Arn: { Ref: reconciliationId }, Input: '{}' }),
      ]);
    });

    it.each(RECONCILIATION_STEPS)(
      'runs %s from lambdas/reconciliation with the contract environment',
      (step) => {
        const variables = variablesOf(`ReconciliationSteps${pascal(step)}`);

        expect(functionOf(`ReconciliationSteps${pascal(step)}`)[1].Properties.Handler).toBe(`index.${step}`);
        expect(Object.keys(variables).sort()).toEqual(
          [
            'SHARD_MAP',
            'REDIS_HOST',
            'REDIS_PORT',
            'REDIS_AUTH_SECRET_ARN',
            'CLUSTER_ARN',
            'TOPIC',
            'RETRY_TOPIC',
            'POWERTOOLS_METRICS_NAMESPACE',
            ...WORKFLOW_VARIABLES,
          ].sort(),
        );
        expect(variables).toMatchObject({
          TOPIC: config.consumer.topic,
          RETRY_TOPIC: config.consumer.retryTopic,
        });
      },
    );

    it('reads the events topic with throw-away groups of its own prefix and writes the retry topic only', () => {
      const kafkaResources = (fragment: string, action: string) =>
        policyOf(fragment)
          .filter((s) => actionsOf(s).includes(action))
          .flatMap((s) => [s.Resource].flat())
          .map((r) => joined(r));

      expect(kafkaResources('ReconciliationStepsFindEventGaps', 'kafka-cluster:ReadData')).toEqual([
        expect.stringMatching(
          new RegExp(`:topic/cdp-${name}/.*/${config.consumer.topic.replaceAll('.', '\\.')}$`),
        ),
      ]);
      expect(kafkaResources('ReconciliationStepsFindEventGaps', 'kafka-cluster:AlterGroup')).toEqual([
        expect.stringMatching(new RegExp(`:group/cdp-${name}/.*/${EVENT_LOG_GROUP_PREFIX}-\\*$`)),
      ]);
      expect(kafkaResources('ReconciliationStepsReplayGaps', 'kafka-cluster:WriteData')).toEqual([
        expect.stringMatching(new RegExp(`/${config.consumer.retryTopic.replaceAll('.', '\\.')}$`)),
      ]);
      for (const step of ['reconcileIndex', 'sweepIndex', 'findEventGaps', 'report']) {
        expect(policyOf(`ReconciliationSteps${pascal(step)}`).flatMap(actionsOf)).not.toContain(
          'kafka-cluster:WriteData',
        );
      }
      expect(
        policyOf('ReconciliationStepsReport')
          .flatMap(actionsOf)
          .filter((a) => /^(kafka|rds-data|states|sns)/.test(a)),
      ).toEqual([]);
    });
  });

  describe('event replay', () => {
    it('copies the events topic to the retry topic, with no schedule', () => {
      const [replayId, replay] = functionOf('EventReplay');
      const writes = policyOf('EventReplay')
        .filter((s) => actionsOf(s).includes('kafka-cluster:WriteData'))
        .flatMap((s) => [s.Resource].flat())
        .map((r) => joined(r));

      expect(replay.Properties.Handler).toBe('index.handler');
      expect(variablesOf('EventReplay')).toMatchObject({
        CLUSTER_ARN: { 'Fn::ImportValue': expect.stringMatching(`cdp-${name}-streaming:.*Kafka.*Arn`) },
        TOPIC: config.consumer.topic,
        RETRY_TOPIC: config.consumer.retryTopic,
      });
      expect(
        policyOf('EventReplay')
          .filter((s) => actionsOf(s).includes('kafka-cluster:AlterGroup'))
          .flatMap((s) => [s.Resource].flat())
          .map((r) => joined(r)),
      ).toEqual([
        `arn:<token>:kafka:${config.region}:${config.account}:group/cdp-${name}/*/${EVENT_LOG_GROUP_PREFIX}-*`,
      ]);
      expect(writes).toEqual([
        expect.stringMatching(new RegExp(`/${config.consumer.retryTopic.replaceAll('.', '\\.')}$`)),
      ]);
      expect(JSON.stringify(workflows.findResources('AWS::Scheduler::Schedule'))).not.toContain(replayId);
    });
  });
});
