import { GantryError } from '../domain/errors.js';

/** Collects repeated `--var KEY=VALUE` options. */
export function collectVar(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new GantryError('GANTRY_E_USAGE', `--var expects KEY=VALUE, got ${JSON.stringify(value)}`);
  const key = value.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new GantryError('GANTRY_E_USAGE', `--var: ${JSON.stringify(key)} is not a valid variable name`);
  return { ...previous, [key]: value.slice(eq + 1) };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new GantryError('GANTRY_E_USAGE', `${name} expects a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}
