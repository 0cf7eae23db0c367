// Job isolation of the project: whether every job needs the sandbox, the network of trusted and of
// fork pipelines' jobs, and each job's limits; one PATCH /projects/:project of what changed. Memory
// is edited in MiB and sent in bytes; an empty limit is the agent's own.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { JobLimits, NetworkPolicy, Project } from '../api/types.js';
import { ErrorBox } from '../components/feedback.js';
import { Section, useAction } from './section.js';

const MIB = 1024 * 1024;
const NO_LIMITS: JobLimits = { memoryBytes: null, pids: null, cpus: null };
const text = (n: number | null) => (n === null ? '' : String(n));
const value = (s: string) => (s.trim() === '' ? null : Number(s));

export function IsolationSettings({ project, onSaved }: { project: Project; onSaved(p: Project): void }) {
  const limits = project.jobLimits ?? NO_LIMITS;
  const [requireSandbox, setRequireSandbox] = useState(project.requireSandbox ?? false);
  const [network, setNetwork] = useState<NetworkPolicy>(project.network ?? 'full');
  const [forkNetwork, setForkNetwork] = useState<NetworkPolicy>(project.forkNetwork ?? 'full');
  const [memory, setMemory] = useState(text(limits.memoryBytes === null ? null : limits.memoryBytes / MIB));
  const [pids, setPids] = useState(text(limits.pids));
  const [cpus, setCpus] = useState(text(limits.cpus));
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const patch: Record<string, unknown> = {};
    if (requireSandbox !== (project.requireSandbox ?? false)) patch.requireSandbox = requireSandbox;
    if (network !== (project.network ?? 'full')) patch.network = network;
    if (forkNetwork !== (project.forkNetwork ?? 'full')) patch.forkNetwork = forkNetwork;
    const mib = value(memory);
    const wanted: JobLimits = { memoryBytes: mib === null ? null : Math.round(mib * MIB), pids: value(pids), cpus: value(cpus) };
    if (wanted.memoryBytes !== limits.memoryBytes || wanted.pids !== limits.pids || wanted.cpus !== limits.cpus) patch.jobLimits = wanted;
    if (Object.keys(patch).length === 0) return setSaved(true);
    await action.run(async () => {
      onSaved(await api<Project>(`/projects/${project.id}`, { method: 'PATCH', body: patch }));
      setSaved(true);
    });
  };
  return (
    <Section
      id="isolation"
      title="Job isolation"
      intro="A pipeline from a fork always runs on a sandboxed agent whose isolation check passed; so does every job here when the project requires the sandbox, and every job whose network is none."
    >
      <form class="settings-form" aria-label="Job isolation" onSubmit={submit}>
        <label class="check">
          <input type="checkbox" checked={requireSandbox} onChange={(e) => setRequireSandbox(e.currentTarget.checked)} /> Require the sandbox for every job
        </label>
        <div class="field-row">
          <div>
            <label for="network">Network of the project's own pipelines</label>
            <select id="network" value={network} onChange={(e) => setNetwork(e.currentTarget.value as NetworkPolicy)}>
              <option value="full">full</option>
              <option value="none">none (loopback only)</option>
            </select>
          </div>
          <div>
            <label for="fork-network">Network of pipelines from forks</label>
            <select id="fork-network" value={forkNetwork} onChange={(e) => setForkNetwork(e.currentTarget.value as NetworkPolicy)}>
              <option value="full">full</option>
              <option value="none">none (loopback only)</option>
            </select>
          </div>
        </div>
        <div class="field-row">
          <div>
            <label for="job-memory">Memory per job (MiB)</label>
            <input id="job-memory" type="number" min={16} step="any" placeholder="the agent's limit" value={memory} onInput={(e) => setMemory(e.currentTarget.value)} />
          </div>
          <div>
            <label for="job-pids">Processes per job</label>
            <input id="job-pids" type="number" min={16} placeholder="the agent's limit" value={pids} onInput={(e) => setPids(e.currentTarget.value)} />
          </div>
          <div>
            <label for="job-cpus">CPUs per job</label>
            <input id="job-cpus" type="number" min={0.01} max={1024} step="any" placeholder="the agent's limit" value={cpus} onInput={(e) => setCpus(e.currentTarget.value)} />
          </div>
        </div>
        <ErrorBox error={action.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={action.busy}>
            Save isolation
          </button>
          {saved ? <span class="muted" role="status">Saved</span> : null}
        </div>
      </form>
    </Section>
  );
}
