// A loopback HTTP proxy between agents and a server that misbehaves on request, as a network
// and a load balancer do: it loses answers the server did send, delivers a request twice, and
// answers 503 for a while. Each fault is a rule with a count; requests no rule matches pass
// through untouched (long polls and streamed bodies included).

import http from 'node:http';
import type net from 'node:net';

export type Fault =
  /** Forward the request, let the server act on it, then cut the client's connection instead of answering. */
  | { kind: 'lose-answer'; when?: (status: number) => boolean }
  /** Forward the request twice, one after the other; the client gets the second answer. */
  | { kind: 'duplicate' }
  /** Answer 503 without forwarding. */
  | { kind: '503' };

export interface Rule {
  fault: Fault;
  /** Which requests: method and path (with the query). */
  match: (method: string, path: string) => boolean;
  /** How many matching requests it applies to; Infinity for all until removed. */
  times: number;
}

export interface FaultLogEntry {
  method: string;
  path: string;
  /** The faults it met, in order (a duplicated request may also lose its answer). */
  faults: Fault['kind'][];
  /** The server's answer; null while in flight or when the server was unreachable. */
  status: number | null;
}

export class FaultProxy {
  private readonly server: http.Server;
  private rules: Rule[] = [];
  private readonly sockets = new Set<net.Socket>();
  /** Every request seen, in order: which fault it met and what the server answered. */
  readonly log: FaultLogEntry[] = [];
  url = '';

  constructor(private readonly target: string) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  add(rule: Rule): Rule {
    this.rules.push(rule);
    return rule;
  }

  remove(rule: Rule): void {
    this.rules = this.rules.filter((r) => r !== rule);
  }

  /** The first live rule for this request among those that act before forwarding (`status` null) or after. */
  private take(method: string, path: string, status: number | null): Rule | null {
    const rule = this.rules.find((r) => {
      if (r.times <= 0 || !r.match(method, path)) return false;
      if (status === null) return r.fault.kind !== 'lose-answer';
      return r.fault.kind === 'lose-answer' && (!r.fault.when || r.fault.when(status));
    });
    return rule ?? null;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: FaultLogEntry = { method, path, faults: [], status: null };
    this.log.push(entry);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const early = this.take(method, path, null);
    if (early?.fault.kind === '503') {
      early.times--;
      entry.faults.push('503');
      entry.status = 503;
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(JSON.stringify({ error: { code: 'PROXY_UNAVAILABLE', message: 'the test proxy answers 503' } }));
      return;
    }
    let upstream: Upstream;
    try {
      upstream = await this.forward(method, path, req.headers, body);
      if (early?.fault.kind === 'duplicate') {
        early.times--;
        entry.faults.push('duplicate');
        upstream = await this.forward(method, path, req.headers, body);
      }
    } catch {
      // The server is down: the client sees what it would see without a proxy.
      req.socket.destroy();
      return;
    }
    entry.status = upstream.status;
    const lose = this.take(method, path, upstream.status);
    if (lose?.fault.kind === 'lose-answer') {
      lose.times--;
      entry.faults.push('lose-answer');
      req.socket.destroy();
      return;
    }
    res.writeHead(upstream.status, upstream.headers);
    res.end(upstream.body);
  }

  private forward(method: string, path: string, headers: http.IncomingHttpHeaders, body: Buffer): Promise<Upstream> {
    return new Promise((resolve, reject) => {
      const u = new URL(path, this.target);
      const out = http.request(u, { method, headers: { ...headers, host: u.host } }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => {
          const h: http.OutgoingHttpHeaders = { ...r.headers };
          // The body is re-sent whole, with its own length.
          delete h['transfer-encoding'];
          delete h['content-length'];
          delete h.connection;
          resolve({ status: r.statusCode ?? 502, headers: h, body: Buffer.concat(parts) });
        });
        r.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Upstream {
  status: number;
  headers: http.OutgoingHttpHeaders;
  body: Buffer;
}
