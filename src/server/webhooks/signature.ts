// Checking that a webhook came from the forge that holds the project's secret. Every comparison
// is constant-time over equal-length digests, so the time an answer takes says nothing about how
// much of a forged signature was right.

import crypto from 'node:crypto';
import type { WebhookProvider } from '../../domain/git-event.js';

export type Headers = Record<string, string | string[] | undefined>;

export function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function hmacHex(secret: string, body: Buffer): Buffer {
  return crypto.createHmac('sha256', secret).update(body).digest();
}

/** Equal, in time that does not depend on where they differ (SHA-256 first: equal lengths). */
function sameSecret(a: Buffer, b: Buffer): boolean {
  return crypto.timingSafeEqual(crypto.createHash('sha256').update(a).digest(), crypto.createHash('sha256').update(b).digest());
}

function hexSignatureMatches(sent: string | undefined, secret: string, body: Buffer): boolean {
  if (sent === undefined || !/^[0-9a-fA-F]{64}$/.test(sent)) return false;
  return crypto.timingSafeEqual(Buffer.from(sent, 'hex'), hmacHex(secret, body));
}

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. Gitea: `X-Gitea-Signature:
 * <hex>`, the same HMAC; Forgejo sends it as `X-Forgejo-Signature` too. GitLab signs nothing: it
 * sends the secret itself as `X-Gitlab-Token` (so only HTTPS keeps it secret on the way).
 */
export function verifySignature(provider: WebhookProvider, h: Headers, body: Buffer, secret: string): boolean {
  switch (provider) {
    case 'github': {
      const sent = header(h, 'x-hub-signature-256');
      return sent !== undefined && sent.startsWith('sha256=') && hexSignatureMatches(sent.slice(7), secret, body);
    }
    case 'gitea':
      return hexSignatureMatches(header(h, 'x-gitea-signature') ?? header(h, 'x-forgejo-signature'), secret, body);
    case 'gitlab': {
      const sent = header(h, 'x-gitlab-token');
      return sent !== undefined && sameSecret(Buffer.from(sent, 'utf8'), Buffer.from(secret, 'utf8'));
    }
  }
}

/** What a forge would send for `body` (tests and the bench sign with it). */
export function signatureHeaders(provider: WebhookProvider, body: Buffer, secret: string): Record<string, string> {
  switch (provider) {
    case 'github':
      return { 'x-hub-signature-256': `sha256=${hmacHex(secret, body).toString('hex')}` };
    case 'gitea':
      return { 'x-gitea-signature': hmacHex(secret, body).toString('hex') };
    case 'gitlab':
      return { 'x-gitlab-token': secret };
  }
}
