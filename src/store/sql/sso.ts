// Single sign-on's flows, account links and mapped roles (src/store/sso.ts) over any SqlDialect.

import { asProjectId, type ProjectId } from '../../domain/ids.js';
import type { AuditFor } from '../audit.js';
import type { SsoAccount, SsoFlow, SsoGrantChanges, SsoGrants, SsoStore } from '../sso.js';
import type { EpochMs } from '../store.js';
import { asUserId, NO_PASSWORD, type Role, type User, type UserId } from '../users.js';
import { auditIn } from './audit.js';
import type { SqlDialect } from './dialect.js';
import { num } from './rows.js';

interface FlowRow {
  hash: string;
  state: string;
  nonce: string;
  code_verifier: string;
  next: string;
  created_at: number | string;
  expires_at: number | string;
}
const FLOW_COLUMNS = 'hash, state, nonce, code_verifier, next, created_at, expires_at';

interface UserRow {
  id: number | string;
  username: string;
  admin: number | string;
  disabled: number | string;
  created_at: number | string;
  updated_at: number | string;
}
const USER_COLUMNS = 'id, username, admin, disabled, created_at, updated_at';

const toUser = (r: UserRow): User => ({
  id: asUserId(num(r.id)),
  username: r.username,
  admin: num(r.admin) !== 0,
  disabled: num(r.disabled) !== 0,
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
});

/** `base`, then `base-2`, `base-3`, ... within the 64 characters a username may have. */
function candidate(base: string, n: number): string {
  if (n === 1) return base;
  const suffix = `-${n}`;
  return `${base.slice(0, 64 - suffix.length)}${suffix}`;
}

export class SqlSsoStore implements SsoStore {
  constructor(private readonly db: SqlDialect) {}

  async createFlow(f: SsoFlow): Promise<void> {
    await this.db.run(`INSERT INTO sso_flows (${FLOW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [f.hash, f.state, f.nonce, f.codeVerifier, f.next, f.createdAt, f.expiresAt]);
  }

  async takeFlow(hash: string, at: EpochMs): Promise<SsoFlow | null> {
    // One statement: of two callbacks with the same cookie (a replay, a double click), on any
    // instances, one gets the row and the other nothing.
    const row = await this.db.get<FlowRow>(`DELETE FROM sso_flows WHERE hash = ? RETURNING ${FLOW_COLUMNS}`, [hash]);
    if (!row || num(row.expires_at) <= at) return null;
    return {
      hash: row.hash,
      state: row.state,
      nonce: row.nonce,
      codeVerifier: row.code_verifier,
      next: row.next,
      createdAt: num(row.created_at),
      expiresAt: num(row.expires_at),
    };
  }

  async pruneFlows(at: EpochMs): Promise<number> {
    return (await this.db.run('DELETE FROM sso_flows WHERE expires_at <= ?', [at])).changes;
  }

  async linkedUser(account: SsoAccount, username: string, at: EpochMs, audit?: AuditFor<User>): Promise<{ user: User; created: boolean }> {
    return this.db.transaction(async (tx) => {
      // Two first sign-ins of one account at once (two tabs, two instances) wait here, and the
      // second finds the link the first made.
      await this.db.holdLock(tx, 'sso-link');
      const linked = await tx.get<UserRow>(
        `SELECT ${USER_COLUMNS.split(', ').map((c) => `u.${c}`).join(', ')} FROM user_identities i JOIN users u ON u.id = i.user_id WHERE i.issuer = ? AND i.subject = ?`,
        [account.issuer, account.subject],
      );
      if (linked) {
        await tx.run('UPDATE user_identities SET email = ?, last_sign_in_at = ? WHERE issuer = ? AND subject = ?', [account.email, at, account.issuer, account.subject]);
        return { user: toUser(linked), created: false };
      }
      // A name taken by anyone (a local user, another provider's) is skipped, never joined: the
      // provider vouches for its own account, not for a Gantry user who happens to share a name.
      for (let n = 1; ; n++) {
        const row = await tx.get<UserRow>(
          'INSERT INTO users (username, password_hash, admin, disabled, created_at, updated_at) VALUES (?, ?, 0, 0, ?, ?) ' +
            `ON CONFLICT (username) DO NOTHING RETURNING ${USER_COLUMNS}`,
          [candidate(username, n), NO_PASSWORD, at, at],
        );
        if (!row) continue;
        await tx.run('INSERT INTO user_identities (issuer, subject, user_id, email, created_at, last_sign_in_at) VALUES (?, ?, ?, ?, ?, ?)', [
          account.issuer,
          account.subject,
          num(row.id),
          account.email,
          at,
          at,
        ]);
        return { user: await auditIn(tx, audit, toUser(row)), created: true };
      }
    });
  }

  async applyGrants(userId: UserId, grants: SsoGrants, at: EpochMs): Promise<SsoGrantChanges> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.all<{ project_id: number | string; role: string; granted_by: string }>('SELECT project_id, role, granted_by FROM project_members WHERE user_id = ?', [userId]);
      const have = new Map(rows.map((r) => [asProjectId(num(r.project_id)), { role: r.role as Role, byHand: r.granted_by !== 'sso' }]));
      const touched = [...new Set<ProjectId>([...grants.roles.keys(), ...[...have].filter(([, m]) => !m.byHand).map(([p]) => p)])].sort((a, b) => a - b);
      // The projects' member locks, in one order: a maintainer's change that counts maintainers
      // (users.ts, lastMaintainer) sees this one whole, before or after.
      for (const p of touched) await this.db.holdLock(tx, `project-members:${p}`);
      const changes: SsoGrantChanges = { admin: null, set: [], removed: [] };
      for (const [projectId, role] of grants.roles) {
        const m = have.get(projectId);
        if (m?.byHand) continue;
        if (!m) {
          await tx.run("INSERT INTO project_members (project_id, user_id, role, created_at, updated_at, granted_by) VALUES (?, ?, ?, ?, ?, 'sso')", [projectId, userId, role, at, at]);
        } else if (m.role !== role) {
          await tx.run("UPDATE project_members SET role = ?, updated_at = ? WHERE project_id = ? AND user_id = ? AND granted_by = 'sso'", [role, at, projectId, userId]);
        } else continue;
        changes.set.push({ projectId, role });
      }
      for (const [projectId, m] of have) {
        if (m.byHand || grants.roles.has(projectId)) continue;
        await tx.run("DELETE FROM project_members WHERE project_id = ? AND user_id = ? AND granted_by = 'sso'", [projectId, userId]);
        changes.removed.push(projectId);
      }
      const u = await tx.get<{ admin: number | string; admin_by_sso: number | string }>('SELECT admin, admin_by_sso FROM users WHERE id = ?', [userId]);
      const admin = num(u!.admin) !== 0;
      const bySso = num(u!.admin_by_sso) !== 0;
      if (grants.admin && !admin) {
        await tx.run('UPDATE users SET admin = 1, admin_by_sso = 1, updated_at = ? WHERE id = ?', [at, userId]);
        changes.admin = 'granted';
      } else if (!grants.admin && admin && bySso) {
        await tx.run('UPDATE users SET admin = 0, admin_by_sso = 0, updated_at = ? WHERE id = ?', [at, userId]);
        changes.admin = 'removed';
      }
      return changes;
    });
  }
}
