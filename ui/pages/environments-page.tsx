// A project's environments, as GitLab's environments page: each one's protection (the approvals
// its deployments need, who may give them besides maintainers) and its deployments newest first
// (job, ref, commit, who, when, status, the decisions on it). A maintainer protects one here.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { useMayWrite } from '../api/session.js';
import type { Deployment, Environment, Page, Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { StatusBadge } from '../components/status.js';
import { TimeAgo } from '../components/time.js';

function Deployments({ project, name }: { project: string; name: string }) {
  const list = useApi<Page<Deployment>>(`/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(name)}/deployments?limit=20`);
  const items = list.data?.items;
  if (items === undefined) return list.error ? <ErrorBox error={list.error} /> : <Loading what="the deployments" />;
  if (items.length === 0) return <p class="muted">No deployments yet.</p>;
  return (
    <table class="deployments">
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col">Job</th>
          <th scope="col">Ref</th>
          <th scope="col">Commit</th>
          <th scope="col">Triggered by</th>
          <th scope="col">When</th>
          <th scope="col">Approvals</th>
        </tr>
      </thead>
      <tbody>
        {items.map((d) => (
          <tr key={d.jobId}>
            <td>
              <StatusBadge status={d.status} />
            </td>
            <td>
              <Link href={`/jobs/${d.jobId}`}>
                {d.jobName} #{d.jobId}
              </Link>{' '}
              <span class="muted">
                in <Link href={`/pipelines/${d.pipelineId}`}>#{d.pipelineId}</Link>
              </span>
            </td>
            <td class="mono">{d.ref}</td>
            <td class="mono" title={d.sha}>
              {d.sha.slice(0, 8)}
            </td>
            <td>{d.triggeredBy?.name ?? '—'}</td>
            <td>
              <TimeAgo iso={d.createdAt} />
            </td>
            <td>{(d.approvals ?? []).map((a) => `${a.name} ${a.decision}`).join(', ') || '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Protect({ project, env, onSaved }: { project: string; env: Environment | null; onSaved(): void }) {
  const [name, setName] = useState(env?.name ?? '');
  const [required, setRequired] = useState(String(env?.requiredApprovals ?? 1));
  const [deployers, setDeployers] = useState((env?.deployers ?? []).join(', '));
  const [error, setError] = useState<unknown>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const list = deployers
        .split(',')
        .map((d) => d.trim())
        .filter(Boolean);
      await api(`/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(name.trim())}`, {
        method: 'PUT',
        body: { requiredApprovals: Number(required), deployers: list },
      });
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="inline-form" onSubmit={save} aria-label={env ? `Protect ${env.name}` : 'Protect an environment'}>
      {env ? null : <input type="text" required value={name} placeholder="environment" aria-label="Environment" onInput={(e) => setName(e.currentTarget.value)} />}
      <label>
        Approvals <input type="number" min={0} max={5} value={required} aria-label="Required approvals" onInput={(e) => setRequired(e.currentTarget.value)} />
      </label>
      <input type="text" value={deployers} placeholder="deployers (usernames)" aria-label="Deployers" onInput={(e) => setDeployers(e.currentTarget.value)} />
      <button type="submit">Save</button>
      <ErrorBox error={error} />
    </form>
  );
}

export function EnvironmentsPage({ project }: { project: string }) {
  const info = useApi<Project>(`/projects/${encodeURIComponent(project)}`);
  const envs = useApi<{ items: Environment[] }>(`/projects/${encodeURIComponent(project)}/environments`);
  const maintain = useMayWrite(info.data?.id, 'maintainer');
  const items = envs.data?.items;
  return (
    <main class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={`/projects/${encodeURIComponent(project)}`}>{project}</Link> / <span aria-current="page">Environments</span>
      </nav>
      <header class="page-head">
        <h1>Environments</h1>
      </header>
      <ErrorBox error={envs.error} />
      {items === undefined ? (
        envs.error ? null : <Loading what="the environments" />
      ) : items.length === 0 ? (
        <p class="muted card empty">No environment yet: a job with `environment: NAME` deploys to one.</p>
      ) : (
        items.map((e) => (
          <section key={e.name} class="card environment" aria-label={`Environment ${e.name}`}>
            <h2>
              {e.name}{' '}
              {e.requiredApprovals > 0 ? (
                <span class="tag warn">
                  protected: {e.requiredApprovals} approval{e.requiredApprovals === 1 ? '' : 's'}
                  {e.deployers.length ? `, deployers ${e.deployers.join(', ')}` : ''}
                </span>
              ) : (
                <span class="tag">not protected</span>
              )}
            </h2>
            {maintain ? <Protect project={project} env={e} onSaved={() => envs.reload()} /> : null}
            <Deployments project={project} name={e.name} />
          </section>
        ))
      )}
      {maintain ? (
        <section class="card">
          <h2>Protect an environment</h2>
          <Protect project={project} env={null} onSaved={() => envs.reload()} />
        </section>
      ) : null}
    </main>
  );
}
