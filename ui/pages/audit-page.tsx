// The audit log: who changed what, when, from where. A project's (its maintainers', in its
// settings) or the instance's (admins': every project's and the users', tokens', agents' and
// sign-ins'). Newest first, a page at a time: the API's `next` is the cursor for older entries,
// and the cursors of the pages before are kept to go back.

import { useState } from 'preact/hooks';
import { atLeast, isAdmin, useSession } from '../api/session.js';
import type { AuditEntry, Page, Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { TimeAgo } from '../components/time.js';
import { SettingsTabs } from '../settings/settings-tabs.js';

const PAGE_SIZE = 25;

function actorText(a: AuditEntry['actor']): string {
  switch (a.kind) {
    case 'user':
      return a.via === 'token' ? `${a.username} (token #${a.tokenId ?? '?'})` : a.username;
    case 'admin-token':
      return 'admin token';
    case 'project-token':
      return `project token #${a.tokenId}`;
    default:
      return 'anonymous';
  }
}

const valueText = (v: unknown): string =>
  v === null ? 'none' : Array.isArray(v) ? (v.length ? v.map(valueText).join(', ') : 'none') : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** `details` in words: `role: viewer · readOnly: true`; a time (`expiresAt`, in epoch ms) as a date. */
const detailsText = (d: AuditEntry['details']) =>
  d === null
    ? ''
    : Object.entries(d)
        .map(([k, v]) => `${k}: ${/At$/.test(k) && typeof v === 'number' ? new Date(v).toLocaleString() : valueText(v)}`)
        .join(' · ');

function AuditTable({ path, projectNames }: { path: string; projectNames: Map<number, string> | null }) {
  // The `before` cursor of each page shown so far (none for the newest).
  const [cursors, setCursors] = useState<number[]>([]);
  const before = cursors[cursors.length - 1];
  const page = useApi<Page<AuditEntry>>(`${path}?limit=${PAGE_SIZE}${before ? `&before=${before}` : ''}`);
  const items = page.data?.items;
  return (
    <section class="card table-wrap" aria-label="Audit log entries">
      <ErrorBox error={page.error} />
      {items === undefined ? (
        page.error ? null : <Loading what="the audit log" />
      ) : items.length === 0 ? (
        <p class="muted empty">Nothing recorded yet.</p>
      ) : (
        <table class="audit">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              {projectNames ? <th scope="col">Project</th> : null}
              <th scope="col">Details</th>
              <th scope="col">From</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id} data-entry={e.id} data-action={e.action}>
                <td data-label="When">
                  <TimeAgo iso={e.at} />
                </td>
                <td data-label="Who">{actorText(e.actor)}</td>
                <td data-label="Action" class="mono">
                  {e.action}
                </td>
                <td data-label="Target">
                  <span class="muted">{e.target.type}</span> {e.target.id ?? ''}
                </td>
                {projectNames ? (
                  <td data-label="Project">{e.projectId === null ? <span class="muted">instance</span> : (projectNames.get(e.projectId) ?? `#${e.projectId}`)}</td>
                ) : null}
                <td data-label="Details" class="audit-details">
                  {detailsText(e.details)}
                </td>
                <td data-label="From" class="mono">
                  {e.address ?? ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Audit log pages">
        {cursors.length ? (
          <button type="button" onClick={() => setCursors(cursors.slice(0, -1))}>
            ← Newer
          </button>
        ) : null}
        {page.data?.next ? (
          <button type="button" onClick={() => setCursors([...cursors, page.data!.next!])}>
            Older →
          </button>
        ) : null}
      </nav>
    </section>
  );
}

/** A project's audit log, in its settings. */
export function ProjectAuditPage({ project }: { project: string }) {
  const base = `/projects/${encodeURIComponent(project)}`;
  const info = useApi<Project>(base);
  const session = useSession();
  const who = session.status === 'signed-in' ? session.who : null;
  const maintainer = who !== null && info.data !== null && atLeast(who, info.data.id, 'maintainer');
  return (
    <main class="page settings">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={base}>{project}</Link> / <Link href={`${base}/settings`}>Settings</Link> /{' '}
        <span aria-current="page">Audit log</span>
      </nav>
      <header class="page-head">
        <h1>Audit log</h1>
        <SettingsTabs project={project} current="audit" maintainer={maintainer} />
      </header>
      <ErrorBox error={info.error} />
      {info.data === null ? (
        info.error ? null : <Loading what="the audit log" />
      ) : maintainer ? (
        <>
          <p class="muted">Every change to this project, newest first: its settings, variables (never a value), members, tokens, schedules, and the pipelines and jobs people canceled, retried or played.</p>
          <AuditTable path={`${base}/audit`} projectNames={null} />
        </>
      ) : (
        <div class="card">
          <p>The audit log is for the project's maintainers.</p>
        </div>
      )}
    </main>
  );
}

/** The instance's audit log, for admins. */
export function InstanceAuditPage() {
  const session = useSession();
  const who = session.status === 'signed-in' ? session.who : null;
  const admin = who !== null && isAdmin(who);
  const projects = useApi<Page<Project>>(admin ? '/projects?limit=100' : null);
  const names = new Map((projects.data?.items ?? []).map((p) => [p.id, p.name]));
  return (
    <main class="page settings">
      <header class="page-head">
        <h1>Audit log</h1>
      </header>
      {admin ? (
        <>
          <p class="muted">Every change on this instance, newest first: every project's, and users, personal tokens, agents and sign-ins.</p>
          {/* The projects' names first, so a row never shows an id that then turns into a name. */}
          {projects.data || projects.error ? <AuditTable path="/audit" projectNames={names} /> : <Loading what="the audit log" />}
        </>
      ) : (
        <div class="card">
          <p>The instance's audit log is for its admins. A project's maintainers find theirs in the project's settings.</p>
        </div>
      )}
    </main>
  );
}
