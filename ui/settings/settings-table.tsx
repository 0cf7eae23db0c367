// The list every settings section shows above its form: the load error, a table of the items
// (labelled cells, so narrow screens can stack them as cards) with a column of row actions, or a
// line saying there are none yet.

import type { ComponentChildren } from 'preact';
import type { Loaded } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';

export interface Column<T> {
  label: string;
  cell(item: T): ComponentChildren;
  class?: string;
}

export interface SettingsTableProps<T> {
  /** The table's class (tests and styles find it by it). */
  name: string;
  list: Loaded<{ items: T[] }>;
  columns: Column<T>[];
  itemKey(item: T): string | number;
  /** Attributes of each row beyond its key (`data-*`). */
  rowAttributes?(item: T): Record<string, string | number>;
  actions?(item: T): ComponentChildren;
  /** Said when the list is empty. */
  none: string;
}

export function SettingsTable<T>(p: SettingsTableProps<T>) {
  const items = p.list.data?.items;
  return (
    <>
      <ErrorBox error={p.list.error} />
      {items && items.length > 0 ? (
        <table class={`settings-table ${p.name}`}>
          <thead>
            <tr>
              {p.columns.map((c) => (
                <th key={c.label} scope="col">
                  {c.label}
                </th>
              ))}
              {p.actions ? (
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={p.itemKey(item)} {...p.rowAttributes?.(item)}>
                {p.columns.map((c) => (
                  <td key={c.label} data-label={c.label} class={c.class}>
                    {c.cell(item)}
                  </td>
                ))}
                {p.actions ? <td class="row-actions">{p.actions(item)}</td> : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : items ? (
        <p class="muted">{p.none}</p>
      ) : null}
    </>
  );
}
