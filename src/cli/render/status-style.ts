import pc from 'picocolors';
import type { JobStatus, PipelineStatus } from '../../domain/status.js';

type Style = { icon: string; paint: (s: string) => string };

export function statusStyle(status: JobStatus | PipelineStatus, color: boolean): Style {
  const c = pc.createColors(color);
  switch (status) {
    case 'success':
      return { icon: '✓', paint: c.green };
    case 'failed':
      return { icon: '✗', paint: c.red };
    case 'timed_out':
      return { icon: '⏱', paint: c.red };
    case 'canceled':
      return { icon: '⊘', paint: c.gray };
    case 'skipped':
      return { icon: '»', paint: c.gray };
    case 'manual':
      return { icon: '▶', paint: c.magenta };
    case 'waiting_for_approval':
      return { icon: '⏸', paint: c.magenta };
    case 'scheduled':
      return { icon: '⏲', paint: c.magenta };
    case 'running':
      return { icon: '●', paint: c.cyan };
    case 'pending':
      return { icon: '◌', paint: c.yellow };
    case 'created':
      return { icon: '·', paint: c.gray };
  }
}
