// Durations and times as people read them; a running thing's duration ticks every second.

import { useEffect, useState } from 'preact/hooks';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function formatAgo(iso: string, now = Date.now()): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** Re-renders the caller every second while `active`. */
export function useTick(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

export function Duration({ startedAt, finishedAt }: { startedAt: string | null; finishedAt: string | null }) {
  const now = useTick(startedAt !== null && finishedAt === null);
  if (!startedAt) return <span class="muted">–</span>;
  const ms = (finishedAt ? Date.parse(finishedAt) : now) - Date.parse(startedAt);
  return <span class="duration" title={finishedAt ? `finished ${new Date(finishedAt).toLocaleString()}` : 'running'}>{formatDuration(ms)}</span>;
}

export function TimeAgo({ iso }: { iso: string }) {
  useTick(true);
  return <time dateTime={iso} title={new Date(iso).toLocaleString()}>{formatAgo(iso)}</time>;
}

/**
 * A scheduled (delayed) job's wait: "starts in 4m 12s", ticking; "starts now" once due (the server
 * queues it within a second or so).
 */
export function StartsIn({ iso, short = false }: { iso: string; short?: boolean }) {
  const now = useTick(true);
  const ms = Date.parse(iso) - now;
  const wait = formatDuration(ms).replace(/^(\d+m) 0?/, '$1 ');
  return (
    <time class="starts-in" dateTime={iso} title={`starts at ${new Date(iso).toLocaleString()}`}>
      {ms > 0 ? (short ? wait : `starts in ${wait}`) : 'starts now'}
    </time>
  );
}
