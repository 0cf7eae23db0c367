// A project's settings: repository and limits, job isolation, retention, variables and secrets,
// schedules, trigger tokens, commit statuses and webhooks, one section each (ui/settings/). They
// are its maintainers' (and admins'): anyone else who may see the project is shown its members
// instead.

import { atLeast, isAdmin, mayWrite, roleIn, useSession } from '../api/session.js';
import type { Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { ForgeSettings } from '../settings/forge-settings.js';
import { GeneralSettings } from '../settings/general-settings.js';
import { IsolationSettings } from '../settings/isolation-settings.js';
import { RetentionSettings } from '../settings/retention-settings.js';
import { RefFiltersSettings } from '../settings/ref-filters-settings.js';
import { SchedulesSettings } from '../settings/schedules-settings.js';
import { SettingsTabs } from '../settings/settings-tabs.js';
import { TriggerTokensSettings } from '../settings/trigger-tokens-settings.js';
import { VariablesSettings } from '../settings/variables-settings.js';
import { WebhooksSettings } from '../settings/webhooks-settings.js';

export function SettingsPage({ project }: { project: string }) {
  const info = useApi<Project>(`/projects/${encodeURIComponent(project)}`);
  const base = `/projects/${encodeURIComponent(project)}`;
  const session = useSession();
  const who = session.status === 'signed-in' ? session.who : null;
  const maintainer = who !== null && info.data !== null && mayWrite(who, info.data.id, 'maintainer');
  const mine = who !== null && info.data !== null ? roleIn(who, info.data.id) : null;
  return (
    <main class="page settings">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <Link href={base}>{project}</Link> / <span aria-current="page">Settings</span>
      </nav>
      <header class="page-head">
        <h1>Settings</h1>
        <SettingsTabs project={project} current="general" maintainer={who !== null && info.data !== null && atLeast(who, info.data.id, 'maintainer')} />
        {maintainer ? (
          <nav class="section-nav" aria-label="Sections">
            <a href="#general">Repository</a> <a href="#isolation">Isolation</a> <a href="#retention">Retention</a> <a href="#variables">Variables</a> <a href="#schedules">Schedules</a>{' '}
            <a href="#trigger-tokens">Tokens</a> <a href="#forge">Statuses</a> <a href="#webhooks">Webhooks</a>
          </nav>
        ) : null}
      </header>
      <ErrorBox error={info.error} />
      {info.data && !maintainer ? (
        <div class="card">
          <p>
            {mine && mine !== 'admin' ? <>You are a {mine} of this project{who?.kind === 'user' && who.token?.readOnly ? ', with a read-only token' : ''}. </> : null}
            Its settings are for its maintainers. <Link href={`${base}/settings/members`}>See who they are</Link>.
          </p>
        </div>
      ) : info.data ? (
        <>
          <GeneralSettings project={info.data} admin={who !== null && isAdmin(who)} onSaved={(p) => info.setData(() => p)} />
          <IsolationSettings project={info.data} onSaved={(p) => info.setData(() => p)} />
          <RetentionSettings project={info.data} onSaved={(p) => info.setData(() => p)} />
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
