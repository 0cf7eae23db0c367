// What a page shows while loading, on an error, and for a message after an action.

import { errorText } from '../api/client.js';

export function Loading({ what }: { what: string }) {
  return <p class="muted loading" aria-busy="true">Loading {what}…</p>;
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const code = (error as { code?: string }).code;
  const diagnostics = ((error as { body?: { error?: { diagnostics?: { file: string; line: number; column: number; message: string }[] } } }).body?.error
    ?.diagnostics ?? []) as { file: string; line: number; column: number; message: string }[];
  return (
    <div class="error-box" role="alert">
      <strong>{errorText(error)}</strong>
      {code ? <span class="code"> {code}</span> : null}
      {diagnostics.length ? (
        <ul>
          {diagnostics.map((d, i) => (
            <li key={i}>
              <code>
                {d.file}:{d.line}:{d.column}
              </code>{' '}
              {d.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
