// Lint before commit (POST /projects/:project/lint): paste or edit a pipeline file and see, as you
// type, every error at its line and column (marked in the editor's gutter with ⚠ and listed; a
// click puts the cursor there) and the pipeline the file would make for a ref and a source: its
// stages with their jobs, and the jobs rules leave out with why. GitLab's CI Lint and pipeline
// editor, on the server's own compiler.

import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { LintAnswer, PipelineSource } from '../api/types.js';
import { ErrorBox } from '../components/feedback.js';
import { Link } from '../components/link.js';

const SOURCES: PipelineSource[] = ['push', 'web', 'merge_request_event', 'schedule', 'api', 'trigger'];
/** Typing pauses this long before the file is checked. */
const PAUSE_MS = 400;
const draftKey = (project: string) => `gantry.lint.${project}`;

export function LintPage({ project }: { project: string }) {
  const [content, setContent] = useState(() => sessionStorage.getItem(draftKey(project)) ?? '');
  const [ref, setRef] = useState('');
  const [source, setSource] = useState<PipelineSource>('push');
  const [answer, setAnswer] = useState<LintAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);
  const editor = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLPreElement>(null);

  useEffect(() => {
    sessionStorage.setItem(draftKey(project), content);
    if (content.trim() === '') {
      setAnswer(null);
      return;
    }
    const abort = new AbortController();
    const timer = setTimeout(() => {
      setChecking(true);
      api<LintAnswer>(`/projects/${encodeURIComponent(project)}/lint`, { method: 'POST', body: { content, source, ...(ref.trim() ? { ref: ref.trim() } : {}) }, signal: abort.signal })
        .then((a) => {
          setAnswer(a);
          setError(null);
        })
        .catch((e: unknown) => {
          if (!abort.signal.aborted) setError(e);
        })
        .finally(() => setChecking(false));
    }, PAUSE_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [content, ref, source, project]);

  const lines = content.split('\n');
  const badLines = new Set((answer?.errors ?? []).filter((e) => e.file === answer?.file).map((e) => e.line));
  const goTo = (line: number, column: number) => {
    const el = editor.current;
    if (!el) return;
    let at = 0;
    for (let i = 1; i < line && i <= lines.length; i++) at += lines[i - 1]!.length + 1;
    at += Math.max(0, column - 1);
    el.focus();
    el.setSelectionRange(at, at);
  };
  const stages = answer && answer.jobs.length > 0 ? answer.stages.filter((s) => answer.jobs.some((j) => j.stage === s)) : [];

  return (
    <main class="page lint-page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={`/projects/${encodeURIComponent(project)}`}>{project}</Link> / <span aria-current="page">Lint</span>
      </nav>
      <header class="page-head">
        <h1>Lint a pipeline file</h1>
      </header>
      <div class="lint-options">
        <label>
          Branch or tag <input type="text" value={ref} placeholder="the default branch" onInput={(e) => setRef(e.currentTarget.value)} />
        </label>
        <label>
          Source{' '}
          <select value={source} onChange={(e) => setSource(e.currentTarget.value as PipelineSource)}>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <span class="muted" role="status">
          {checking ? 'Checking…' : answer ? (answer.valid ? `Valid, read with ${answer.ref} (${answer.sha.slice(0, 8)})` : `${answer.errors.length} error${answer.errors.length === 1 ? '' : 's'}`) : ''}
        </span>
      </div>
      <div class="lint-editor">
        <pre class="lint-gutter" ref={gutter} aria-hidden="true">
          {lines.map((_, i) => (badLines.has(i + 1) ? `⚠ ${i + 1}` : `${i + 1}`)).join('\n')}
        </pre>
        <textarea
          ref={editor}
          aria-label="Pipeline file"
          aria-invalid={answer ? !answer.valid : undefined}
          aria-describedby="lint-errors"
          spellcheck={false}
          value={content}
          placeholder={'build:\n  script: [make]'}
          onInput={(e) => setContent(e.currentTarget.value)}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
          }}
        />
      </div>
      <ErrorBox error={error} />
      <section id="lint-errors" aria-label="Errors" aria-live="polite">
        {answer && answer.errors.length > 0 ? (
          <ul class="lint-errors">
            {answer.errors.map((e, i) => (
              <li key={i}>
                <button type="button" class="link-button" onClick={() => goTo(e.line, e.column)}>
                  {e.file === answer.file ? '' : `${e.file}, `}line {e.line}, column {e.column}
                </button>
                : {e.message} <span class="muted mono">{e.code}</span>
              </li>
            ))}
          </ul>
        ) : null}
      </section>
      {answer?.valid ? (
        <section class="card" aria-labelledby="lint-pipeline">
          <h2 id="lint-pipeline">The pipeline for {source} on {answer.ref}</h2>
          {answer.filtered ? <p>No pipeline would be created: {answer.filtered}.</p> : null}
          <div class="lint-stages">
            {stages.map((s) => (
              <section key={s} class="lint-stage" aria-label={`Stage ${s}`}>
                <h3>{s}</h3>
                <ul>
                  {answer.jobs
                    .filter((j) => j.stage === s)
                    .map((j) => (
                      <li key={j.name}>
                        <strong>{j.name}</strong>
                        {j.when !== 'on_success' ? <span class="tag">{j.when}</span> : null}
                        {j.allowFailure ? <span class="tag">may fail</span> : null}
                        {j.needs ? <span class="muted"> needs {j.needs.length === 0 ? 'nothing' : j.needs.join(', ')}</span> : null}
                      </li>
                    ))}
                </ul>
              </section>
            ))}
          </div>
          {answer.left.length > 0 ? (
            <>
              <h3>Left out by rules</h3>
              <ul class="lint-left">
                {answer.left.map((l) => (
                  <li key={l.name}>
                    <strong>{l.name}</strong>: {l.reason}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          {answer.warnings.length > 0 ? (
            <ul class="lint-warnings">
              {answer.warnings.map((w, i) => (
                <li key={i}>
                  Warning, line {w.line}: {w.message}
                </li>
              ))}
            </ul>
          ) : null}
        </section>
      ) : null}
    </main>
  );
}
