// A project's members and their roles. Everyone who may see the project sees the list; its
// maintainers (and admins) add people, change roles and remove them. The server keeps the last
// maintainer (409 GANTRY_E_LAST_MAINTAINER, said in words here); what the caller may do is read
// from GET /session's roles, and a 403 the page did not expect is shown as it comes.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { atLeast, loadSession, mayWrite, roleIn, useSession } from '../api/session.js';
import { ROLES, type Member, type Project, type Role } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ConfirmButton } from '../components/confirm-button.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { TimeAgo } from '../components/time.js';
import { Section, useAction } from '../settings/section.js';
import { SettingsTable } from '../settings/settings-table.js';
import { SettingsTabs } from '../settings/settings-tabs.js';

const ROLE_WORDS: Record<Role, string> = {
  viewer: 'reads pipelines, jobs, logs and artifacts, and the members',
  developer: 'also runs, cancels, retries and plays pipelines and jobs',
  maintainer: 'also changes the settings, variables, schedules, tokens, webhooks and members',
};

function RoleSelect({ id, value, onChange, label }: { id?: string; value: Role; onChange(r: Role): void; label: string }) {
  return (
    <select id={id} aria-label={label} value={value} onChange={(e) => onChange(e.currentTarget.value as Role)}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}

/** A member's role, changeable by a maintainer: pick one, then "Change". */
function RoleCell({ member, busy, onChange }: { member: Member; busy: boolean; onChange(role: Role): Promise<boolean> }) {
  const [role, setRole] = useState(member.role);
  return (
    <span class="role-edit">
      <RoleSelect value={role} onChange={setRole} label={`Role of ${member.username}`} />{' '}
      <button
        type="button"
        aria-label={`Change the role of ${member.username}`}
        disabled={busy || role === member.role}
        onClick={async () => {
          // Refused (the last maintainer, say): the list shows the role the member still has.
          if (!(await onChange(role))) setRole(member.role);
        }}
      >
        Change
      </button>
    </span>
  );
}

export function MembersPage({ project }: { project: string }) {
  const base = `/projects/${encodeURIComponent(project)}`;
  const info = useApi<Project>(base);
  const list = useApi<{ items: Member[] }>(`${base}/members`);
  const session = useSession();
  const who = session.status === 'signed-in' ? session.who : null;
  const me = who?.kind === 'user' ? who.user.username : null;
  const manage = who !== null && info.data !== null && mayWrite(who, info.data.id, 'maintainer');
  const mine = who !== null && info.data !== null ? roleIn(who, info.data.id) : null;
  const [username, setUsername] = useState('');
  const [role, setRole] = useState<Role>('developer');
  const action = useAction();

  /** PUT adds a member or changes their role; the caller's own roles are read again if they changed. */
  const put = (name: string, r: Role) =>
    action.run(async () => {
      await api(`${base}/members/${encodeURIComponent(name)}`, { method: 'PUT', body: { role: r } });
      if (name === me) await loadSession();
    });
  const add = async (e: Event) => {
    e.preventDefault();
    if (await put(username.trim().toLowerCase(), role)) {
      setUsername('');
      list.reload();
    }
  };
  const change = async (m: Member, r: Role) => {
    const ok = await put(m.username, r);
    list.reload();
    return ok;
  };
  const remove = (m: Member) =>
    action
      .run(async () => {
        await api(`${base}/members/${encodeURIComponent(m.username)}`, { method: 'DELETE' });
        if (m.username === me) await loadSession();
      })
      .then(list.reload);

  return (
    <main class="page settings">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={base}>{project}</Link> / <Link href={`${base}/settings`}>Settings</Link> /{' '}
        <span aria-current="page">Members</span>
      </nav>
      <header class="page-head">
        <h1>Members</h1>
        <SettingsTabs project={project} current="members" maintainer={who !== null && info.data !== null && atLeast(who, info.data.id, 'maintainer')} />
      </header>
      <ErrorBox error={info.error} />
      {info.data === null ? (
        info.error ? null : <Loading what="the members" />
      ) : (
        <>
          <Section
            id="members"
            title="Members and roles"
            intro={
              manage ? (
                'Instance admins may do everything without being members.'
              ) : (
                <>
                  {mine && mine !== 'admin' ? <>You are a {mine} of this project. </> : null}Its maintainers add members and change their roles.
                </>
              )
            }
          >
            <SettingsTable
              name="members"
              list={list}
              itemKey={(m) => m.userId}
              rowAttributes={(m) => ({ 'data-member': m.username })}
              columns={[
                {
                  label: 'User',
                  cell: (m) => (
                    <>
                      <span class="strong">{m.username}</span>
                      {m.username === me ? <span class="muted"> (you)</span> : null}
                    </>
                  ),
                },
                {
                  label: 'Role',
                  cell: (m) =>
                    manage ? <RoleCell key={`${m.role}-${m.updatedAt}`} member={m} busy={action.busy} onChange={(r) => change(m, r)} /> : <span class="tag">{m.role}</span>,
                },
                { label: 'Member since', cell: (m) => <TimeAgo iso={m.createdAt} /> },
              ]}
              actions={
                manage
                  ? (m) => (
                      <ConfirmButton
                        label="Remove"
                        name={`Remove ${m.username}`}
                        question={`Remove ${m.username} from ${project}?`}
                        disabled={action.busy}
                        onConfirm={() => remove(m)}
                      />
                    )
                  : undefined
              }
              none="No members yet: only instance admins can see this project."
            />
            <ErrorBox error={action.error} />
            {manage ? (
              <form class="settings-form inline" onSubmit={add} aria-label="Add a member">
                <label for="member-username" class="visually-hidden">
                  Username
                </label>
                <input
                  id="member-username"
                  required
                  placeholder="username"
                  autoCapitalize="none"
                  spellcheck={false}
                  value={username}
                  onInput={(e) => setUsername(e.currentTarget.value)}
                />
                <label for="member-role" class="visually-hidden">
                  Role
                </label>
                <RoleSelect id="member-role" value={role} onChange={setRole} label="Role" />
                <button type="submit" class="primary" disabled={action.busy || username.trim() === ''}>
                  Add member
                </button>
                <span class="muted">Adding someone who is already a member changes their role.</span>
              </form>
            ) : null}
          </Section>
          <Section id="roles" title="Roles">
            <dl class="vars">
              {ROLES.map((r) => (
                <div key={r}>
                  <dt>{r}</dt>
                  <dd>{ROLE_WORDS[r]}</dd>
                </div>
              ))}
            </dl>
          </Section>
        </>
      )}
    </main>
  );
}
