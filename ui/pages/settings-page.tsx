// A project's settings: repository and limits, job isolation, variables and secrets, schedules,
// trigger tokens, commit statuses and webhooks, one section each (ui/settings/).

import type { Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { ForgeSettings } from '../settings/forge-settings.js';
import { GeneralSettings } from '../settings/general-settings.js';
import { IsolationSettings } from '../settings/isolation-settings.js';
import { RefFiltersSettings } from '../settings/ref-filters-settings.js';
import { SchedulesSettings } from '../settings/schedules-settings.js';
import { TriggerTokensSettings } from '../settings/trigger-tokens-settings.js';
import { VariablesSettings } from '../settings/variables-settings.js';
import { WebhooksSettings } from '../settings/webhooks-settings.js';

export function SettingsPage({ project }: { project: string }) {
  const info = useApi<Project>(`/projects/${encodeURIComponent(project)}`);
  const base = `/projects/${encodeURIComponent(project)}`;
  return (
    <main class="page settings">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={base}>{project}</Link> / <span aria-current="page">Settings</span>
      </nav>
      <header class="page-head">
        <h1>Settings</h1>
        <nav class="section-nav" aria-label="Sections">
          <a href="#general">Repository</a> <a href="#isolation">Isolation</a> <a href="#variables">Variables</a> <a href="#schedules">Schedules</a> <a href="#trigger-tokens">Tokens</a>{' '}
          <a href="#forge">Statuses</a> <a href="#webhooks">Webhooks</a>
        </nav>
      </header>
      <ErrorBox error={info.error} />
      {info.data ? (
        <>
          <GeneralSettings project={info.data} onSaved={(p) => info.setData(() => p)} />
          <IsolationSettings project={info.data} onSaved={(p) => info.setData(() => p)} />
          <VariablesSettings base={base} />
          <SchedulesSettings base={base} />
          <TriggerTokensSettings base={base} />
          <ForgeSettings base={base} />
          <WebhooksSettings base={base} />
          <RefFiltersSettings base={base} />
        </>
      ) : info.error ? null : (
        <Loading what="the settings" />
      )}
    </main>
  );
}
