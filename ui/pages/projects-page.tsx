// Every project the token may see, oldest first, a page at a time.

import { useState } from 'preact/hooks';
import type { Page, Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { TimeAgo } from '../components/time.js';

export function ProjectsPage() {
  const [after, setAfter] = useState<number[]>([]);
  const cursor = after[after.length - 1];
  const page = useApi<Page<Project>>(`/projects?limit=50${cursor ? `&after=${cursor}` : ''}`);
  return (
    <main class="page">
      <header class="page-head">
        <h1>Projects</h1>
      </header>
      <ErrorBox error={page.error} />
      {page.data === null ? (
        page.error ? null : <Loading what="projects" />
      ) : page.data.items.length === 0 ? (
        <div class="card empty">
          <p>No projects yet.</p>
          <p class="muted">
            Create one with <code>gantry project create NAME --git-url URL</code>.
          </p>
        </div>
      ) : (
        <ul class="card list">
          {page.data.items.map((p) => (
            <li key={p.id} class="list-row">
              <Link href={`/projects/${encodeURIComponent(p.name)}`} class="strong">
                {p.name}
              </Link>
              <span class="muted mono ellipsis">{p.gitUrl}</span>
              <span class="muted right">
                created <TimeAgo iso={p.createdAt} />
              </span>
            </li>
          ))}
        </ul>
      )}
      <nav class="pager">
        {after.length ? <button onClick={() => setAfter(after.slice(0, -1))}>← Previous</button> : null}
        {page.data?.next ? <button onClick={() => setAfter([...after, page.data!.next!])}>Next →</button> : null}
      </nav>
    </main>
  );
}
