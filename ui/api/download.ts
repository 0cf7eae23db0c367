// Downloads an API resource as a file. The token goes in a header, never in a URL: fetch the
// bytes, then hand them to the browser as a blob URL on a temporary link.

import { API, authHeaders, failure } from './client.js';

export async function downloadFile(path: string, filename: string): Promise<void> {
  const res = await fetch(`${API}${path}`, { headers: authHeaders() });
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A name safe to save a file under. */
export const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_');
