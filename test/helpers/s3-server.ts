// A real S3-compatible server on loopback for tests: s3rver (an S3 API server in Node, objects in
// a temp directory) behind a front that does what s3rver leaves out and a bucket may do:
//   - it checks every request's AWS Signature V4 (s3rver checks only that the access key exists)
//     and the signed payload hash of every PUT's body (s3rver checks neither), answering 403
//     SignatureDoesNotMatch / 400 XAmzContentSHA256Mismatch as S3 does;
//   - on request it misbehaves: hangs (accepts and never answers), resets connections, answers
//     503 SlowDown, or flips a byte of the next PUT's body on its way.
// The SigV4 check is written from AWS's documentation, apart from the client's signing library,
// and is itself checked against AWS's published example (test/blobstore/s3-signature.test.ts).
// s3rver runs in a child process (s3rver-process.ts) so that its listings can page.

import { fork, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3rverConfig, S3rverMessage } from './s3rver-process.js';

export type S3Mode = 'up' | 'hang' | 'reset' | 'busy';

export const TEST_BUCKET = 'gantry-logs';
export const TEST_REGION = 'test-region-1';

export interface SignedRequest {
  method: string;
  /** The raw request target: path and query as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * Why a request's AWS Signature V4 (Authorization header) is wrong, or null if it is right.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 */
export function sigV4Problem(req: SignedRequest, creds: { accessKeyId: string; secretAccessKey: string }, region: string, now = Date.now()): string | null {
  const auth = String(req.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return `not a SigV4 Authorization header: ${auth.slice(0, 40)}`;
  const [, keyId, day, scopeRegion, signedList, signature] = m as unknown as [string, string, string, string, string, string];
  if (keyId !== creds.accessKeyId) return `unknown access key ${keyId}`;
  if (scopeRegion !== region) return `signed for region ${scopeRegion}, not ${region}`;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== day) return `x-amz-date ${amzDate} does not match the scope ${day}`;
  const at = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(now - at) > 15 * 60_000) return 'request time too skewed';
  const signed = signedList.split(';');
  for (const must of ['host', 'x-amz-content-sha256', 'x-amz-date']) if (!signed.includes(must)) return `${must} is not signed`;
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
  const [rawPath, rawQuery = ''] = req.url.split('?', 2) as [string, string?];
  const uri = rawPath.split('/').map((seg) => rfc3986(decodeURIComponent(seg))).join('/');
  const query = rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const [k, v = ''] = pair.split('=', 2) as [string, string?];
      const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      return [rfc3986(dec(k)), rfc3986(dec(v))] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headerLines = signed.map((h) => {
    const v = req.headers[h];
    return `${h}:${(Array.isArray(v) ? v.join(',') : String(v ?? '')).trim().replace(/\s+/g, ' ')}\n`;
  });
  const canonical = [req.method, uri, query, headerLines.join(''), signedList, payloadHash].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${day}/${region}/s3/aws4_request`, sha256Hex(canonical)].join('\n');
  let key = hmac(`AWS4${creds.secretAccessKey}`, day);
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  const expected = createHmac('sha256', key).update(toSign).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex')) ? null : 'signature does not match';
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function s3Error(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

export class TestS3 {
  mode: S3Mode = 'up';
  /** Flip a byte of the next PUT's body before checking it (a corruption on the way). */
  corruptNextPut = false;
  /** Answer this many of the next requests 503 SlowDown (whatever the mode), then carry on. */
  busyRequests = 0;
  /** Every request that reached the front: method, path with query, and the answer's status (null: none). */
  readonly requests: { method: string; url: string; range: string | null; status: number | null }[] = [];
  readonly accessKeyId = 'GANTRYTESTKEY';
  readonly secretAccessKey = `test-secret-${Math.random().toString(36).slice(2)}`;
  endpoint = '';
  port = 0;
  private readonly dir: string;
  private s3rver: ChildProcess | null = null;
  private s3rverPort = 0;
  private readonly front: http.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-s3-'));
    this.front = http.createServer((req, res) => void this.handle(req, res));
    this.front.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    const child = fork(fileURLToPath(new URL('./s3rver-process.js', import.meta.url)), [], {
      execArgv: ['--openssl-legacy-provider'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.s3rver = child;
    const config: S3rverConfig = { directory: this.dir, bucket: TEST_BUCKET, accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey };
    child.send(config);
    const [answer] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(([code]) => [{ kind: 'failed', error: `exited with ${code}` }])])) as [S3rverMessage];
    if (answer.kind !== 'started') throw new Error(`s3rver did not start: ${answer.error}`);
    this.s3rverPort = answer.port;
    await new Promise<void>((resolve) => this.front.listen(0, '127.0.0.1', resolve));
    this.port = (this.front.address() as net.AddressInfo).port;
    this.endpoint = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** The objects in the test bucket under `prefix` (key → bytes), read from s3rver's directory. */
  objects(prefix = ''): Map<string, Buffer> {
    const root = path.join(this.dir, TEST_BUCKET);
    const out = new Map<string, Buffer>();
    const walk = (d: string) => {
      for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        // s3rver keeps `<key>._S3rver_object` beside its metadata files.
        else if (e.name.endsWith('._S3rver_object')) {
          const key = path.relative(root, p).slice(0, -'._S3rver_object'.length).split(path.sep).join('/');
          if (key.startsWith(prefix)) out.set(key, fs.readFileSync(p));
        }
      }
    };
    walk(root);
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.front.close(() => resolve()));
    const child = this.s3rver;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.send('close');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const entry = { method: req.method ?? '', url: req.url ?? '', range: (req.headers.range as string | undefined) ?? null, status: null as number | null };
    this.requests.push(entry);
    const answer = (status: number, code: string, message: string) => {
      entry.status = status;
      s3Error(res, status, code, message);
    };
    if (this.busyRequests > 0) {
      this.busyRequests--;
      req.resume();
      return answer(503, 'SlowDown', 'Please reduce your request rate.');
    }
    if (this.mode === 'hang') return; // the socket stays open, unanswered, until close()
    if (this.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    if (this.mode === 'busy') return answer(503, 'SlowDown', 'Please reduce your request rate.');
    const problem = sigV4Problem({ method: entry.method, url: entry.url, headers: req.headers }, this, TEST_REGION);
    if (problem) return answer(403, 'SignatureDoesNotMatch', problem);
    if (req.method === 'PUT' && this.corruptNextPut && body.length > 0) {
      this.corruptNextPut = false;
      body = Buffer.from(body);
      body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
    }
    const declared = String(req.headers['x-amz-content-sha256']);
    if (declared !== 'UNSIGNED-PAYLOAD' && declared !== sha256Hex(body)) {
      return answer(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    const up = http.request({ host: '127.0.0.1', port: this.s3rverPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      entry.status = r.statusCode ?? 0;
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  }
}
