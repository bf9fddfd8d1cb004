import type { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import type { EnvironmentName } from '../../lib/config/index.js';

/** A CloudFormation resource of a synthesized template, as the infra tests inspect it. */
export interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
}

/** The resources of a template, by logical id. */
export type Resources = Record<string, Resource>;

/** One statement of an IAM policy document. */
export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Principal?: unknown;
  readonly Condition?: unknown;
}

/** The CodeDeploy deployment configuration each environment's guarded functions are expected to use. */
export const DEPLOYMENT_CONFIG_NAMES: Record<EnvironmentName, string> = {
  dev: 'CodeDeployDefault.LambdaAllAtOnce',
  uat: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
  prod: 'CodeDeployDefault.LambdaCanary10Percent10Minutes',
};

/** The single resource of `type` whose logical id contains `fragment`, with its id. */
export const only = (template: Template, type: string, fragment = ''): [string, Resource] => {
  const matches = Object.entries(template.findResources(type) as Resources).filter(([id]) =>
    id.includes(fragment),
  );
  expect(matches.map(([id]) => id)).toHaveLength(1);
  const [match] = matches;
  if (match === undefined) throw new Error(`no ${type} ${fragment}`);
  return match;
};

/** The logical id behind `{ Ref: id }` or `{ 'Fn::GetAtt': [id, attr] }`. */
export const referencedId = (value: unknown): string | undefined => {
  const json = JSON.stringify(value);
  return /"Ref":"([A-Za-z0-9]+)"/.exec(json)?.[1] ?? /"Fn::GetAtt":\["([A-Za-z0-9]+)"/.exec(json)?.[1];
};

/** The import of the export that carries `{ Ref: logicalId }` out of stack `stackName`. */
export const importOfRef = (stackName: string, logicalId: string) => ({
  'Fn::ImportValue': expect.stringMatching(
    new RegExp(`^${stackName}:ExportsOutputRef${logicalId}[0-9A-F]{8}$`),
  ),
});

/** A `Stack.toJsonString` document with every token replaced by the logical id or export it names. */
export const parseJoinedJson = (value: unknown): unknown => {
  const join = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const placeholder = (part: unknown): string => {
    const imported = (part as { 'Fn::ImportValue'?: string })['Fn::ImportValue'];
    if (imported !== undefined) return `<import:${imported.split(':').pop() ?? ''}>`;
    return `<${referencedId(part) ?? 'token'}>`;
  };
  const text = join[1].map((part) => (typeof part === 'string' ? part : placeholder(part))).join(join[0]);
  return JSON.parse(text);
};

/** Renders an `Fn::Join` of strings and tokens as text, tokens as `<id>`, for matching ARNs. */
export const joined = (value: unknown): string => {
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) return typeof value === 'string' ? value : `<${referencedId(value) ?? 'token'}>`;
  return join[1]
    .map((part) => (typeof part === 'string' ? part : `<${referencedId(part) ?? 'token'}>`))
    .join('');
};

/** The statements of the single IAM policy whose logical id contains `policyFragment`. */
export const statementsOf = (template: Template, policyFragment: string): Statement[] => {
  const [, policy] = only(template, 'AWS::IAM::Policy', policyFragment);
  return (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
};

/** The actions of `statement`, always as a list. */
export const actionsOf = (statement: Statement): string[] => [statement.Action].flat();
