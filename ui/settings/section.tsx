// What every settings section shares: a titled card, and an action runner that shows the error
// of the last failed request and reloads the section's data after a successful one.

import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

export function Section({ id, title, intro, children }: { id: string; title: string; intro?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="card settings-section" id={id} aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {intro ? <p class="muted">{intro}</p> : null}
      {children}
    </section>
  );
}

/** Runs one request at a time; `error` is the last failure, cleared by the next attempt. */
export function useAction(): { busy: boolean; error: unknown; run(fn: () => Promise<void>): Promise<boolean> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/** `KEY=VALUE` lines to an object; blank lines skipped. */
export function parseVariables(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=VALUE: ${line.trim()}`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return out;
}
