// Webhooks: the URL and secret a forge sends pushes and pull requests with. The secret is in the
// answer that makes it only (shown once); making one again rotates it. Below, the latest
// deliveries and what became of each.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { TimeAgo } from '../components/time.js';
import { Section, useAction } from './section.js';

interface Delivery {
  id: number;
  provider: string;
  event: string;
  status: string;
  reason: string | null;
  pipelineId: number | null;
  ref: string | null;
  receivedAt: string;
}

export function WebhooksSettings({ base }: { base: string }) {
  const deliveries = useApi<{ items: Delivery[] }>(`${base}/webhooks/deliveries?limit=10`);
  const [provider, setProvider] = useState('github');
  const [made, setMade] = useState<{ provider: string; url: string; secret: string } | null>(null);
  const action = useAction();
  const make = async (e: Event) => {
    e.preventDefault();
    await action.run(async () => setMade(await api(`${base}/webhooks`, { method: 'POST', body: { provider } })));
  };
  return (
    <Section id="webhooks" title="Webhooks" intro="Pushes and pull requests from GitHub, Gitea/Forgejo or GitLab start pipelines. Making a secret again rotates it.">
      {made ? (
        <div class="once" role="status">
          <p>
            <strong>Give these to {made.provider} now:</strong> the secret is not shown again.
          </p>
          <p>
            URL <code class="secret" data-testid="webhook-url">{made.url}</code>
          </p>
          <p>
            Secret <code class="secret" data-testid="webhook-secret">{made.secret}</code>{' '}
            <button type="button" onClick={() => void navigator.clipboard?.writeText(made.secret)}>
              Copy
            </button>{' '}
            <button type="button" class="link" onClick={() => setMade(null)}>
              Done
            </button>
          </p>
        </div>
      ) : null}
      <form class="settings-form inline" onSubmit={make} aria-label="Webhook">
        <select aria-label="Webhook provider" value={provider} onChange={(e) => setProvider(e.currentTarget.value)}>
          <option value="github">GitHub</option>
          <option value="gitea">Gitea / Forgejo</option>
          <option value="gitlab">GitLab</option>
        </select>
        <button type="submit" class="primary" disabled={action.busy}>
          Make URL and secret
        </button>
      </form>
      <ErrorBox error={action.error} />
      {deliveries.data && deliveries.data.items.length > 0 ? (
        <>
          <h3>Latest deliveries</h3>
          <table class="settings-table deliveries">
            <tbody>
              {deliveries.data.items.map((d) => (
                <tr key={d.id}>
                  <td data-label="Event">
                    {d.provider} <span class="mono">{d.event}</span> <span class="muted mono">{d.ref ?? ''}</span>
                  </td>
                  <td data-label="Result">
                    {d.status}
                    {d.pipelineId ? (
                      <>
                        {' '}
                        <Link href={`/pipelines/${d.pipelineId}`}>#{d.pipelineId}</Link>
                      </>
                    ) : null}
                    {d.reason ? <div class="muted">{d.reason}</div> : null}
                  </td>
                  <td data-label="Received">
                    <TimeAgo iso={d.receivedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </Section>
  );
}
