// A job's or pipeline's status as an icon and a word, coloured by styles.css (`st-<status>`).
// The icon is drawn, not only coloured, so the status reads without colour too.

import type { JSX } from 'preact';

const LABEL: Record<string, string> = {
  created: 'created',
  pending: 'pending',
  running: 'running',
  success: 'passed',
  failed: 'failed',
  canceled: 'canceled',
  skipped: 'skipped',
  manual: 'manual',
  scheduled: 'scheduled',
  waiting_for_approval: 'waiting for approval',
  timed_out: 'timed out',
};

export const statusLabel = (s: string) => LABEL[s] ?? s;

function glyph(status: string): JSX.Element {
  switch (status) {
    case 'success':
      return <path d="M4.5 8.5l2.2 2.2 4.8-5" />;
    case 'failed':
    case 'timed_out':
      return <path d="M5.5 5.5l5 5m0-5l-5 5" />;
    case 'running':
      return <path d="M8 3.5a4.5 4.5 0 1 1-4.5 4.5" class="spin" />;
    case 'pending':
    case 'created':
      return <path d="M8 5v3.2l2 1.3" />;
    case 'scheduled':
      return <path d="M8 4.5V8h3" />;
    case 'manual':
      return <path d="M6.5 5.2v5.6L11 8z" class="fill" />;
    case 'waiting_for_approval':
      return <path d="M6.3 5.2v5.6m3.4-5.6v5.6" />;
    case 'canceled':
      return <path d="M4.8 11.2l6.4-6.4" />;
    case 'skipped':
      return <path d="M5 8h6" />;
    default:
      return <circle cx="8" cy="8" r="1.5" />;
  }
}

export function StatusIcon({ status, size = 16 }: { status: string; size?: number }) {
  return (
    <svg class={`status-icon st-${status}`} width={size} height={size} viewBox="0 0 16 16" aria-hidden="true">
      <circle cx="8" cy="8" r="7" class="ring" />
      {glyph(status)}
    </svg>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`badge st-${status}`}>
      <StatusIcon status={status} size={14} />
      {statusLabel(status)}
    </span>
  );
}
