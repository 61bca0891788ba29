// Stateless signed download tokens for Zulip's temporary URLs.
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived download tokens that need no server state: the org, the attachment and an expiry,
 * signed with a secret all nodes share (kept in the metadata store).
 */
export class UrlSigner {
  constructor(private readonly secret: string) {}

  sign(orgId: number, attachmentId: number, expiresAt: number): string {
    const payload = Buffer.from(JSON.stringify([orgId, attachmentId, expiresAt])).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The org and attachment a token names, or null when it is forged, malformed or expired. */
  verify(token: string, now: number): { orgId: number; attachmentId: number } | null {
    const [payload, mac] = token.split('.');
    if (!payload || !mac) return null;
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    try {
      const [orgId, attachmentId, expiresAt] = JSON.parse(Buffer.from(payload, 'base64url').toString()) as [number, number, number];
      return expiresAt > now ? { orgId, attachmentId } : null;
    } catch {
      return null;
    }
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}
