// A job's artifacts: the archive each attempt uploaded (size, files, expiry), downloaded through
// fetch with the token in a header (api/download.ts). Shown only when there is something.

import { useEffect, useRef, useState } from 'preact/hooks';
import { downloadFile, safeName } from '../api/download.js';
import type { Artifact } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from './feedback.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  for (; v >= 1024 && u < units.length - 1; u++) v /= 1024;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** `version` changes (the job moved) to read the list again. */
export function Artifacts({ jobId, jobName, version }: { jobId: number; jobName: string; version: string }) {
  const list = useApi<{ items: Artifact[] }>(`/jobs/${jobId}/artifacts`);
  const [error, setError] = useState<unknown>(null);
  const seen = useRef(version);
  useEffect(() => {
    if (seen.current !== version) list.reload();
    seen.current = version;
  }, [version]);
  if (!list.data || list.data.items.length === 0) return null;
  const get = async (a: Artifact) => {
    setError(null);
    try {
      await downloadFile(`/jobs/${jobId}/artifacts/${a.attempt}`, `${safeName(jobName)}-${a.attempt}-artifacts.tar.gz`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section class="card artifacts" aria-label="Artifacts">
      <h2>Artifacts</h2>
      <ul class="artifact-list">
        {list.data.items.map((a) => (
          <li key={a.attempt}>
            <button type="button" onClick={() => void get(a)} disabled={a.expired} aria-label={`Download the artifacts of attempt ${a.attempt}`}>
              ⤓ Download
            </button>{' '}
            <span class="strong">attempt #{a.attempt}</span> <span class="muted">
              {a.files} {a.files === 1 ? 'file' : 'files'}, {formatBytes(a.size)}
            </span>{' '}
            {a.expired ? (
              <span class="tag warn">expired</span>
            ) : a.keptAsLatest ? (
              <span class="muted">· kept as the latest artifacts of its ref</span>
            ) : a.expiresAt ? (
              <span class="muted">· kept until {new Date(a.expiresAt).toLocaleString()}</span>
            ) : null}
          </li>
        ))}
      </ul>
      <ErrorBox error={error} />
    </section>
  );
}
