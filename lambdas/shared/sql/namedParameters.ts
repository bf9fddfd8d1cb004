export interface CompiledStatement {
  /** The statement with `:name` replaced by `$1`, `$2`, ... */
  readonly text: string;
  /** Parameter names in positional order. */
  readonly names: readonly string[];
}

const cache = new Map<string, CompiledStatement>();

/**
 * Rewrites `:name` placeholders to PostgreSQL positional parameters. Casts (`::jsonb`), string literals,
 * quoted identifiers, dollar-quoted bodies and comments are left alone. Results are memoised: statements
 * are constants in this code base.
 */
export function compileNamedParameters(sql: string): CompiledStatement {
  const hit = cache.get(sql);
  if (hit) return hit;
  const names: string[] = [];
  let text = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] as string;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      text += sql.slice(i, stop);
      i = stop;
    } else if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      text += sql.slice(i, stop);
      i = stop;
    } else if (ch === '$' && /[A-Za-z_$]/.test(next ?? '')) {
      const tagEnd = sql.indexOf('$', i + 1);
      const tag = sql.slice(i, tagEnd + 1);
      const end = sql.indexOf(tag, tagEnd + 1);
      const stop = end === -1 ? sql.length : end + tag.length;
      text += sql.slice(i, stop);
      i = stop;
    } else if (ch === ':' && next === ':') {
      text += '::';
      i += 2;
    } else if (ch === ':' && /[A-Za-z_]/.test(next ?? '')) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1));
      const name = match?.[0] ?? '';
      let index = names.indexOf(name);
      if (index === -1) index = names.push(name) - 1;
      text += `$${index + 1}`;
      i += 1 + name.length;
    } else {
      text += ch;
      i += 1;
    }
  }
  const compiled = { text, names };
  cache.set(sql, compiled);
  return compiled;
}
