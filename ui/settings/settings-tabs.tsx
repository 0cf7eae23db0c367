// The tabs of a project's settings: the settings themselves (maintainers'), its members (everyone
// who may see the project) and its audit log (maintainers').

import { Link } from '../components/link.js';

export function SettingsTabs({ project, current, maintainer }: { project: string; current: 'general' | 'members' | 'audit'; maintainer: boolean }) {
  const base = `/projects/${encodeURIComponent(project)}/settings`;
  return (
    <nav class="tabs" aria-label="Settings pages">
      <Link href={base} aria-current={current === 'general' ? 'page' : undefined}>
        General
      </Link>
      <Link href={`${base}/members`} aria-current={current === 'members' ? 'page' : undefined}>
        Members
      </Link>
      {maintainer ? (
        <Link href={`${base}/audit`} aria-current={current === 'audit' ? 'page' : undefined}>
          Audit log
        </Link>
      ) : null}
    </nav>
  );
}
