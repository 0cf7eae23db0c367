// Server-Sent Events over fetch: EventSource cannot send an Authorization header, and the token
// must not go in the URL, so the stream is read from a fetch body and parsed here (the WHATWG
// event-stream format: `event:`, `id:`, `data:` lines, a blank line ends an event, `:` comments).

import { API, failure, authHeaders } from './client.js';
import { SseParser, type SseEvent } from './sse-parser.js';

export type { SseEvent };

export interface StreamOptions {
  headers?: Record<string, string>;
  signal: AbortSignal;
  onEvent(e: SseEvent): void;
}

/**
 * Reads one SSE response to its end. Resolves when the server closes it; rejects with an
 * ApiError for a non-2xx answer (404: no such route or resource) or on a network error.
 */
export async function readEventStream(path: string, opts: StreamOptions): Promise<void> {
  const res = await fetch(`${API}${path}`, {
    headers: { accept: 'text/event-stream', ...authHeaders(), ...opts.headers },
    signal: opts.signal,
    cache: 'no-store',
  });
  if (!res.ok || !res.body) throw await failure(res);
  const parser = new SseParser(opts.onEvent);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.push(value);
  }
}

/**
 * Keeps an event stream open: reconnects after a drop (1 s, then up to 10 s apart; never before a
 * shed answer's Retry-After) until the signal aborts or `onEvent` returns 'stop'. A 4xx other than 429 ends it (the caller hears why).
 */
export function followEvents(
  path: string,
  signal: AbortSignal,
  onEvent: (e: SseEvent) => void | 'stop',
  onFatal: (err: unknown) => void = () => {},
): void {
  let delay = 1000;
  const inner = new AbortController();
  signal.addEventListener('abort', () => inner.abort(), { once: true });
  void (async () => {
    while (!signal.aborted) {
      try {
        await readEventStream(path, {
          signal: inner.signal,
          onEvent: (e) => {
            delay = 1000;
            if (onEvent(e) === 'stop') inner.abort();
          },
        });
      } catch (err) {
        if (signal.aborted || inner.signal.aborted) return;
        const status = (err as { status?: number }).status;
        if (status !== undefined && status >= 400 && status < 500 && status !== 429) return onFatal(err);
        // Shed (429/503): not before the server's Retry-After, or the reconnect is shed again.
        const retryAfter = (err as { retryAfter?: number | null }).retryAfter;
        if (typeof retryAfter === 'number') delay = Math.max(delay, retryAfter * 1000);
      }
      if (inner.signal.aborted) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(10_000, delay * 2);
    }
  })();
}
