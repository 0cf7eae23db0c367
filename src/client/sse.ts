// A Server-Sent Events reader for fetch response bodies (the log stream's events are small JSON
// lines; see docs/API.md). Written by hand: the format is a few lines of the HTML standard, and
// EventSource cannot send an Authorization header.

export interface SseEvent {
  event: string;
  /** The `id:` field of this event, or null if it had none. */
  id: string | null;
  data: string;
}

export type SseItem = SseEvent | { comment: string };

/** Yields every event and comment of the stream until it ends. */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseItem> {
  const decoder = new TextDecoder();
  let buf = '';
  let event = 'message';
  let id: string | null = null;
  let data: string[] = [];
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    for (let nl = buf.search(/\r\n|\n|\r/); nl >= 0; nl = buf.search(/\r\n|\n|\r/)) {
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (buf[nl] === '\r' && nl === buf.length - 1) break;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { event, id, data: data.join('\n') };
        event = 'message';
        id = null;
        data = [];
        continue;
      }
      if (line.startsWith(':')) {
        yield { comment: line.slice(1).trimStart() };
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
  }
}
