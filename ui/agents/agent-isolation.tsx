// An agent's isolation on the agents page: its level (an agent at `none` is marked plainly as not
// isolated), whether its last isolation check passed and when, its limits, and the check's probes
// as a table a person opens per agent.

import type { Agent } from '../api/types.js';
import { TimeAgo } from '../components/time.js';
import { checkText, limitsText } from './isolation-words.js';

/** The cell: level, check, limits, and the button that opens the probes (`open`, `onToggle`). */
export function IsolationCell({ agent, open, onToggle }: { agent: Agent; open: boolean; onToggle(): void }) {
  const level = agent.isolation ?? 'none';
  const check = agent.isolationCheck ?? null;
  return (
    <div class="isolation">
      {level === 'sandbox' ? (
        <span class={`badge iso-sandbox${agent.sandboxReady ? '' : ' iso-unready'}`}>sandbox</span>
      ) : (
        <span class="badge iso-none" title="jobs run as the agent's user and see what it sees">
          none · not isolated
        </span>
      )}{' '}
      <span class={check ? (check.passed ? 'iso-passed' : 'iso-failed') : 'muted'}>{checkText(check)}</span>
      {check ? (
        <span class="muted">
          {' '}
          <TimeAgo iso={check.checkedAt} />
        </span>
      ) : null}
      <div class="muted iso-limits">{limitsText(agent.limits)}</div>
      {check && check.probes.length > 0 ? (
        <button type="button" class="link-button" aria-expanded={open} aria-controls={`probes-${agent.id}`} onClick={onToggle}>
          {open ? 'Hide' : 'Show'} the {check.probes.length} probes of {agent.name}
        </button>
      ) : null}
    </div>
  );
}

/** The last check's probes: what a hostile job tried, what must happen, what did. */
export function ProbesTable({ agent }: { agent: Agent }) {
  const probes = agent.isolationCheck?.probes ?? [];
  return (
    <table class="probes" id={`probes-${agent.id}`} aria-label={`Isolation probes of ${agent.name}`}>
      <thead>
        <tr>
          <th scope="col">Area</th>
          <th scope="col">Probe</th>
          <th scope="col">Expected</th>
          <th scope="col">Observed</th>
          <th scope="col">OK</th>
        </tr>
      </thead>
      <tbody>
        {probes.map((p, i) => (
          <tr key={i} class={p.ok ? '' : 'probe-failed'}>
            <td data-label="Area">{p.area}</td>
            <td data-label="Probe">{p.probe}</td>
            <td data-label="Expected">{p.expected}</td>
            <td data-label="Observed" class="mono">
              {p.observed}
            </td>
            <td data-label="OK">{p.ok ? 'ok' : 'FAILED'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
