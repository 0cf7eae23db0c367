// Variable expansion with GitLab's syntax. The compiler uses it for rules, cache keys and include
// paths; the runner uses it to resolve variables that reference other variables.

const REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** `$VAR` and `${VAR}` become the value (unknown: empty); `$$` is a literal `$`. Not recursive. */
export function expandVariables(value: string, vars: Record<string, string>): string {
  if (!value.includes('$')) return value;
  return value.replace(REF, (whole, braced: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return '$';
    const name = (braced ?? bare)!;
    return Object.prototype.hasOwnProperty.call(vars, name) ? vars[name]! : '';
  });
}

/**
 * Resolves variables whose values reference other variables, as GitLab does when it builds a
 * job's environment: each value is expanded against the others, with cycles left unexpanded.
 */
export function resolveVariables(vars: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const state = new Map<string, 'busy' | 'done'>();
  const get = (name: string): string => {
    if (!Object.prototype.hasOwnProperty.call(vars, name)) return '';
    if (state.get(name) === 'done') return out[name]!;
    if (state.get(name) === 'busy') return vars[name]!;
    state.set(name, 'busy');
    const raw = vars[name]!;
    const value = raw.includes('$')
      ? raw.replace(REF, (whole, braced: string | undefined, bare: string | undefined) =>
          whole === '$$' ? '$$' : get((braced ?? bare)!),
        )
      : raw;
    out[name] = value;
    state.set(name, 'done');
    return value;
  };
  for (const name of Object.keys(vars)) get(name);
  return out;
}
