import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES } from '../../lib/config/index.js';
import { nagViolations } from '../support/synth.js';

describe('cdk-nag AwsSolutions pack', () => {
  it.each(ENVIRONMENT_NAMES)('reports no unacknowledged finding for %s', (name) => {
    // Act
    const violations = nagViolations(name);

    // Assess: list them so a failure says exactly what to fix
    expect(violations.map((v) => `${v.rule} at ${v.path}`)).toEqual([]);
  });
});
