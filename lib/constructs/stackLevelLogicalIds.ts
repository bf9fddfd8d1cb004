import { createHash } from 'node:crypto';
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** What CloudFormation logical ids are made of, as `Stack.allocateLogicalId` builds them. */
const HIDDEN_ID = 'Default';
const HIDDEN_FROM_HUMAN_ID = 'Resource';
const HASH_LENGTH = 8;
const MAX_HUMAN_LENGTH = 240;
const MAX_ID_LENGTH = 255;

const alphanumeric = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '');

/**
 * The logical id `element` would have if the scopes `transparent` accepts were not in its path, or
 * undefined when none is. A construct that takes over resources a stack used to create itself uses this, so
 * that moving them does not replace them (a replaced log group or state machine loses its history).
 * It follows the CDK's own scheme: the path below the stack, `Default` left out, the human-readable part
 * without repeats and `Resource`, then the first 8 hex digits of the MD5 of the path.
 */
export function logicalIdWithout(
  element: CfnElement,
  transparent: (scope: IConstruct) => boolean,
): string | undefined {
  const scopes = element.node.scopes;
  const below = scopes.slice(scopes.indexOf(element.stack) + 1);
  if (!below.some(transparent)) return undefined;
  const path = below
    .filter((scope) => !transparent(scope))
    .map((scope) => scope.node.id)
    .filter((id) => id !== HIDDEN_ID);
  const [only] = path;
  if (path.length === 1 && only !== undefined && alphanumeric(only).length <= MAX_ID_LENGTH) {
    return alphanumeric(only);
  }
  const hash = createHash('md5').update(path.join('/')).digest('hex').slice(0, HASH_LENGTH).toUpperCase();
  const human: string[] = [];
  for (const id of path) {
    const last = human[human.length - 1];
    if (last === undefined || !last.endsWith(id)) human.push(id);
  }
  return (
    human
      .filter((id) => id !== HIDDEN_FROM_HUMAN_ID)
      .map(alphanumeric)
      .join('')
      .slice(0, MAX_HUMAN_LENGTH) + hash
  );
}
