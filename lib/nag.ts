import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * Runs the AWS Solutions rule pack over everything below `scope` at synth time. Findings that are
 * not acknowledged (with a reason) fail the synthesis and are listed in the cloud assembly's
 * policy validation report.
 */
export function applyNagChecks(scope: IConstruct): void {
  Validations.of(scope).addPlugins(new AwsSolutionsChecks(scope, { verbose: true }));
}

/** A rule acknowledgement: the reason is mandatory and must convince a security reviewer. */
export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
}

/** Acknowledges each finding on `scope` (and its children). */
export function acknowledge(scope: IConstruct, ...acks: readonly NagAcknowledgement[]): void {
  for (const ack of acks) Validations.of(scope).acknowledge(ack);
}
