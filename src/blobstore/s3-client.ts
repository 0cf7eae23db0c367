// The few S3 REST calls a blob store needs, signed with AWS Signature Version 4 (the `aws4`
// package) and sent with Node's http/https: AWS S3 and the S3-compatible servers (MinIO, Ceph
// RGW, Garage, Cloudflare R2) by endpoint, region, and path-style or virtual-hosted addressing.
// Every failure is a GantryError GANTRY_E_BLOB_STORE whose message names the call and S3's own
// error code, never a credential. A bucket that does not answer costs a timeout, not the process.

import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import aws4 from 'aws4';
import { GantryError } from '../domain/errors.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (STS) come with one. */
  sessionToken: string | null;
}

export interface S3ClientOptions {
  bucket: string;
  /** `http(s)://host[:port]`, e.g. https://s3.eu-west-1.amazonaws.com or http://minio:9000. */
  endpoint: string;
  region: string;
  /** `endpoint/bucket/key` (MinIO, Garage, most self-hosted servers) rather than `bucket.endpoint/key`. */
  pathStyle: boolean;
  credentials: S3Credentials;
  /** A request with no bytes moving for this long fails; default 30 s. */
  timeoutMs?: number;
  /** Connections are kept alive and reused; tests pass an agent that resolves names their way. */
  agent?: http.Agent;
}

export interface S3Body {
  /** Opened again for each try. */
  open(): Readable;
  length: number;
  /** Its SHA-256 in hex: signed, so S3 refuses the request if the bytes it gets hash otherwise. */
  sha256: string;
}

export interface S3Call {
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  /** The object's key; null for the bucket itself (ListObjectsV2). */
  key: string | null;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: S3Body;
  /** Statuses that are answers rather than failures (404 for a lookup, 416 for a range past the end). */
  accept: number[];
}

export interface S3Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body, unread (HEAD: empty). The caller reads or destroys it. */
  body: http.IncomingMessage;
}

const RETRIES = 2;
/** Worth another try: the server said it is busy or failed inside. */
const TRANSIENT = new Set([500, 502, 503, 504, 429]);

export class S3Client {
  private readonly endpoint: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  constructor(private readonly opts: S3ClientOptions) {
    this.endpoint = new URL(opts.endpoint);
    const secure = this.endpoint.protocol === 'https:';
    this.transport = secure ? https : http;
    this.agent = opts.agent ?? new (secure ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 16 });
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** `s3://bucket/key` of a key, for messages. */
  where(key: string | null): string {
    return `s3://${this.opts.bucket}/${key ?? ''}`;
  }

  /**
   * Sends the call, trying again (twice, 0.2 s then 0.8 s later) when the connection failed or the
   * server answered 5xx or 429: every call Gantry makes is idempotent, a PUT of a content-addressed
   * object included. A timeout is not tried again: a bucket that hangs would hang each try.
   */
  async send(call: S3Call): Promise<S3Answer> {
    for (let attempt = 0; ; attempt++) {
      let answer: S3Answer;
      try {
        answer = await this.once(call);
      } catch (err) {
        if (attempt < RETRIES && !(err instanceof TimedOut)) {
          await sleep(200 * 4 ** attempt);
          continue;
        }
        const why = err instanceof TimedOut ? `no answer within ${this.timeoutMs} ms` : (err as Error).message;
        throw new GantryError('GANTRY_E_BLOB_STORE', `${call.method} ${this.where(call.key)} at ${this.endpoint.origin}: ${why}`);
      }
      if (call.accept.includes(answer.status)) return answer;
      const text = await readText(answer.body).catch(() => '');
      if (attempt < RETRIES && TRANSIENT.has(answer.status)) {
        await sleep(200 * 4 ** attempt);
        continue;
      }
      // A HEAD's error has no body: the status's own name stands for S3's code.
      const code = xmlText(text, 'Code') ?? http.STATUS_CODES[answer.status] ?? 'error';
      const message = xmlText(text, 'Message');
      throw new GantryError('GANTRY_E_BLOB_STORE', `${call.method} ${this.where(call.key)} at ${this.endpoint.origin}: ${answer.status} ${code}${message ? `: ${message}` : ''}`);
    }
  }

  /** Closes the kept-alive connections. */
  close(): void {
    if (!this.opts.agent) this.agent.destroy();
  }

  private once(call: S3Call): Promise<S3Answer> {
    const { pathname, host } = this.address(call.key);
    const query = call.query ? `?${new URLSearchParams(call.query).toString()}` : '';
    const headers: Record<string, string | number> = { Host: host, ...call.headers };
    if (call.body) {
      headers['Content-Length'] = call.body.length;
      headers['X-Amz-Content-Sha256'] = call.body.sha256;
    }
    const signed = aws4.sign({ method: call.method, host, path: pathname + query, headers, service: 's3', region: this.opts.region }, {
      accessKeyId: this.opts.credentials.accessKeyId,
      secretAccessKey: this.opts.credentials.secretAccessKey,
      ...(this.opts.credentials.sessionToken ? { sessionToken: this.opts.credentials.sessionToken } : {}),
    });
    return new Promise<S3Answer>((resolve, reject) => {
      const req = this.transport.request(
        {
          protocol: this.endpoint.protocol,
          hostname: host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1'),
          port: this.endpoint.port || undefined,
          method: call.method,
          path: signed.path,
          headers: signed.headers as http.OutgoingHttpHeaders,
          agent: this.agent,
          timeout: this.timeoutMs,
        },
        (res) => {
          // The timeout goes on covering the body: a bucket that stops mid-answer fails the read.
          res.on('error', () => undefined);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
        },
      );
      req.on('timeout', () => req.destroy(new TimedOut()));
      req.on('error', reject);
      if (!call.body) {
        req.end();
        return;
      }
      const body = call.body.open();
      body.on('error', (err) => req.destroy(err));
      // A request cut short (an early error answer, a timeout) leaves the body unread: close it.
      req.on('close', () => body.destroy());
      body.pipe(req);
    });
  }

  /** The request's path and Host header for a key, by the addressing style. */
  private address(key: string | null): { pathname: string; host: string } {
    const base = this.endpoint.pathname.replace(/\/+$/, '');
    const object = key === null ? '' : `/${key.split('/').map(encodeSegment).join('/')}`;
    if (this.opts.pathStyle) return { pathname: `${base}/${encodeSegment(this.opts.bucket)}${object || '/'}`, host: this.endpoint.host };
    return { pathname: `${base}${object || '/'}`, host: `${this.opts.bucket}.${this.endpoint.host}` };
  }
}

class TimedOut extends Error {
  constructor() {
    super('timed out');
  }
}

/**
 * RFC 3986 unreserved characters stay, everything else is %XX: what SigV4's canonical URI wants,
 * so the path sent and the path signed are the same string.
 */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export async function readBody(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function readText(body: Readable): Promise<string> {
  return (await readBody(body)).toString('utf8');
}

/** The text of the first `<tag>` element, entities decoded (S3's answers are flat and small). */
export function xmlText(xml: string, tag: string): string | null {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? unescapeXml(m[1]!) : null;
}

/** The inner XML of every `<tag>` element. */
export function xmlAll(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!);
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#x[0-9a-fA-F]+|#\d+);/g, (_, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    if (e === 'amp') return '&';
    return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
  });
}
