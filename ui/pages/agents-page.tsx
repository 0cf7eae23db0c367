// The fleet: each agent idle, busy (with the jobs it runs) or offline, its pool, its tags, its isolation
// (ui/agents/) and when it was last seen. Live from GET /agents/events.

import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { IsolationCell, ProbesTable } from '../agents/agent-isolation.js';
import type { Agent, Page } from '../api/types.js';
import { useLive } from '../api/use-live.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { TimeAgo } from '../components/time.js';

export function AgentsPage() {
  const agents = useLive<Page<Agent>>('/agents/events', 'agents');
  const [opened, setOpened] = useState<ReadonlySet<number>>(new Set());
  const toggle = (id: number) =>
    setOpened((o) => {
      const next = new Set(o);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  return (
    <main class="page">
      <header class="page-head">
        <h1>Agents</h1>
      </header>
      <ErrorBox error={agents.error} />
      {agents.data === null ? (
        agents.error ? null : <Loading what="agents" />
      ) : agents.data.items.length === 0 ? (
        <div class="card empty">
          <p>No agent has registered yet.</p>
          <p class="muted">
            Start one with <code>gantry agent --server URL --token AGENT_TOKEN</code>, or use <code>gantry up</code>.
          </p>
        </div>
      ) : (
        <div class="card table-wrap">
          <table class="agents">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Pool</th>
                <th scope="col">State</th>
                <th scope="col">Running</th>
                <th scope="col">Tags</th>
                <th scope="col">Isolation</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {agents.data.items.map((a) => (
                <Fragment key={a.id}>
                <tr data-agent={a.name}>
                  <td data-label="Agent">
                    <span class="strong">{a.name}</span>
                    {a.version ? <span class="muted"> v{a.version}</span> : null}
                  </td>
                  <td data-label="Pool">{a.pool ?? <span class="muted">default</span>}</td>
                  <td data-label="State">
                    <span class={`badge agent-${a.status}`}>
                      <span class="dot" aria-hidden="true" />
                      {a.status === 'offline' ? 'offline' : `online · ${a.status}`}
                    </span>
                  </td>
                  <td data-label="Running">
                    {a.currentJobs.length === 0 ? (
                      <span class="muted">–</span>
                    ) : (
                      a.currentJobs.map((j) => (
                        <Link key={j} href={`/jobs/${j}`} class="job-chip">
                          job #{j}
                        </Link>
                      ))
                    )}
                    {a.concurrency ? <span class="muted"> of {a.concurrency}</span> : null}
                  </td>
                  <td data-label="Tags">
                    {a.tags.length === 0 ? <span class="muted">untagged</span> : a.tags.map((t) => <span key={t} class="tag">{t}</span>)}
                  </td>
                  <td data-label="Isolation">
                    <IsolationCell agent={a} open={opened.has(a.id)} onToggle={() => toggle(a.id)} />
                  </td>
                  <td data-label="Last seen">{a.lastSeenAt ? <TimeAgo iso={a.lastSeenAt} /> : <span class="muted">never</span>}</td>
                </tr>
                {opened.has(a.id) && a.isolationCheck ? (
                  <tr class="probes-row">
                    <td colSpan={7}>
                      <ProbesTable agent={a} />
                    </td>
                  </tr>
                ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
