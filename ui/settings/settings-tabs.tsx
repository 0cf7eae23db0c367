// The tabs of a project's settings: the settings themselves (maintainers'), and its members
// (everyone who may see the project).

import { Link } from '../components/link.js';

export function SettingsTabs({ project, current }: { project: string; current: 'general' | 'members' }) {
  const base = `/projects/${encodeURIComponent(project)}/settings`;
  return (
    <nav class="tabs" aria-label="Settings pages">
      <Link href={base} aria-current={current === 'general' ? 'page' : undefined}>
        General
      </Link>
      <Link href={`${base}/members`} aria-current={current === 'members' ? 'page' : undefined}>
        Members
      </Link>
    </nav>
  );
}
