/**
 * Where the workflow definitions live and how their `${Name}` placeholders are written: shared by the
 * infrastructure that deploys them (CloudFormation `DefinitionSubstitutions`) and the local runner that
 * executes them, so both read the same files the same way.
 */
import { fileURLToPath } from 'node:url';

export const STEP_FUNCTIONS_DIR = fileURLToPath(new URL('.', import.meta.url));

/** A `${Name}` placeholder, as CloudFormation's `DefinitionSubstitutions` fills it. */
export const SUBSTITUTION = /\$\{([A-Za-z0-9_]+)\}/g;

/** The distinct placeholder names a definition uses, sorted. */
export const substitutionNamesOf = (definition: string): string[] =>
  [...new Set([...definition.matchAll(SUBSTITUTION)].map(([, name]) => name ?? ''))].sort();
