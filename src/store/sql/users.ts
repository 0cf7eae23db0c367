// Users, sessions and sign-in attempts over any SqlDialect (src/store/users.ts).

import { asProjectId, type ProjectId } from '../../domain/ids.js';
import type { ApiToken, EpochMs } from '../store.js';
import {
  asUserId,
  type Member,
  type MemberChange,
  type NewPersonalToken,
  type NewUser,
  type Role,
  type Session,
  type SignInClaim,
  type User,
  type UserId,
  type UserPatch,
  type UserStore,
  type UserWithPassword,
} from '../users.js';
import type { SqlDialect, SqlExecutor } from './dialect.js';
import type { AuditFor } from '../audit.js';
import { audited, auditIn } from './audit.js';
import { num, prefixedColumns, TOKEN_COLUMNS, toToken, unprefixed, type TokenRow } from './rows.js';

interface UserRow {
  id: number | string;
  username: string;
  password_hash: string;
  admin: number | string;
  disabled: number | string;
  created_at: number | string;
  updated_at: number | string;
}
const USER_COLUMNS = 'id, username, password_hash, admin, disabled, created_at, updated_at';

interface SessionRow {
  hash: string;
  user_id: number | string;
  created_at: number | string;
  last_seen_at: number | string;
  expires_at: number | string;
}
const SESSION_COLUMNS = 'hash, user_id, created_at, last_seen_at, expires_at';

function toUserWithPassword(r: UserRow): UserWithPassword {
  return {
    id: asUserId(num(r.id)),
    username: r.username,
    passwordHash: r.password_hash,
    admin: num(r.admin) !== 0,
    disabled: num(r.disabled) !== 0,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

/** The user without its hash: what every caller but sign-in gets. */
function toUser(r: UserRow): User {
  const { passwordHash: _hash, ...user } = toUserWithPassword(r);
  return user;
}

interface MemberRow {
  project_id: number | string;
  user_id: number | string;
  username: string;
  role: string;
  granted_by: string;
  created_at: number | string;
  updated_at: number | string;
}
const MEMBER_SELECT = 'SELECT m.project_id, m.user_id, u.username, m.role, m.granted_by, m.created_at, m.updated_at FROM project_members m JOIN users u ON u.id = m.user_id';

function toMember(r: MemberRow): Member {
  return {
    projectId: asProjectId(num(r.project_id)),
    userId: asUserId(num(r.user_id)),
    username: r.username,
    role: r.role as Role,
    grantedBy: r.granted_by === 'sso' ? 'sso' : 'manual',
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function toSession(r: SessionRow): Session {
  return {
    hash: r.hash,
    userId: asUserId(num(r.user_id)),
    createdAt: num(r.created_at),
    lastSeenAt: num(r.last_seen_at),
    expiresAt: num(r.expires_at),
  };
}

export class SqlUserStore implements UserStore {
  constructor(private readonly db: SqlDialect) {}

  async createUser(u: NewUser, audit?: AuditFor<User | null>): Promise<User | null> {
    return audited(this.db, audit, async (x) => {
      const row = await x.get<UserRow>(
        'INSERT INTO users (username, password_hash, admin, disabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?) ' +
          `ON CONFLICT (username) DO NOTHING RETURNING ${USER_COLUMNS}`,
        [u.username, u.passwordHash, u.admin ? 1 : 0, u.createdAt, u.createdAt],
      );
      return row ? toUser(row) : null;
    });
  }

  async getUser(username: string): Promise<UserWithPassword | null> {
    const row = await this.db.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE username = ?`, [username]);
    return row ? toUserWithPassword(row) : null;
  }

  async listUsers(): Promise<User[]> {
    return (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY id`)).map(toUser);
  }

  async countUsers(): Promise<number> {
    const row = await this.db.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM users');
    return num(row!.n);
  }

  async updateUser(username: string, patch: UserPatch, at: EpochMs, keepSession?: string, audit?: AuditFor<User | null>): Promise<User | null> {
    return this.db.transaction(async (tx) => {
      const changes: [string, string | number][] = [['updated_at', at]];
      if (patch.passwordHash !== undefined) changes.push(['password_hash', patch.passwordHash]);
      // An admin made or unmade by hand is no longer single sign-on's to take away or give.
      if (patch.admin !== undefined) changes.push(['admin', patch.admin ? 1 : 0], ['admin_by_sso', 0]);
      if (patch.disabled !== undefined) changes.push(['disabled', patch.disabled ? 1 : 0]);
      const sets = changes.map(([column]) => `${column} = ?`);
      const params = changes.map(([, value]) => value);
      const row = await tx.get<UserRow>(`UPDATE users SET ${sets.join(', ')} WHERE username = ? RETURNING ${USER_COLUMNS}`, [...params, username]);
      if (!row) return null;
      // In the same transaction: no request that commits after this one finds a session of a
      // disabled user, or one opened with the old password.
      if (patch.disabled === true || patch.passwordHash !== undefined) {
        await tx.run('DELETE FROM sessions WHERE user_id = ? AND hash <> ?', [num(row.id), keepSession ?? '']);
      }
      return auditIn(tx, audit, toUser(row));
    });
  }

  async rehashPassword(username: string, oldHash: string, newHash: string): Promise<void> {
    await this.db.run('UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?', [newHash, username, oldHash]);
  }

  async createSession(s: Session, audit?: AuditFor<void>): Promise<void> {
    await audited(this.db, audit, async (x) => {
      await x.run(`INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)`, [s.hash, s.userId, s.createdAt, s.lastSeenAt, s.expiresAt]);
    });
  }

  async findSession(hash: string, at: EpochMs): Promise<{ session: Session; user: User } | null> {
    // One indexed lookup per request: no cache, so a disabled user or a deleted session stops at
    // the next request on every instance.
    const row = await this.db.get<Record<string, unknown>>(
      `SELECT ${prefixedColumns(SESSION_COLUMNS, 's')}, ${prefixedColumns(USER_COLUMNS, 'u')} ` +
        'FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires_at > ? AND u.disabled = 0',
      [hash, at],
    );
    if (!row) return null;
    return { session: toSession(unprefixed<SessionRow>(row, 's')), user: toUser(unprefixed<UserRow>(row, 'u')) };
  }

  async touchSession(hash: string, at: EpochMs, minIntervalMs: number): Promise<void> {
    await this.db.run('UPDATE sessions SET last_seen_at = ? WHERE hash = ? AND last_seen_at <= ?', [at, hash, at - minIntervalMs]);
  }

  async deleteSession(hash: string, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, async (x) => (await x.run('DELETE FROM sessions WHERE hash = ?', [hash])).changes === 1);
  }

  async pruneSessions(at: EpochMs, attemptsBefore: EpochMs): Promise<number> {
    const sessions = await this.db.run('DELETE FROM sessions WHERE expires_at <= ?', [at]);
    const attempts = await this.db.run('DELETE FROM sign_in_attempts WHERE at <= ?', [attemptsBefore]);
    return sessions.changes + attempts.changes;
  }

  async claimSignIn(subjects: readonly string[], at: EpochMs, windowMs: number, limit: number): Promise<SignInClaim> {
    return this.db.transaction(async (tx) => {
      // Count and insert under one lock, so instances racing on one subject cannot each see
      // limit - 1 and all go on; the transaction is short (no hashing inside it).
      await this.db.holdLock(tx, 'sign-in');
      let retryAt: EpochMs | null = null;
      for (const subject of subjects) {
        // The `limit` newest attempts in the window: when the oldest of them ages out, one more may try.
        const rows = await tx.all<{ at: number | string }>('SELECT at FROM sign_in_attempts WHERE subject = ? AND at > ? ORDER BY at DESC LIMIT ?', [
          subject,
          at - windowMs,
          limit,
        ]);
        if (rows.length >= limit) {
          const free = num(rows[rows.length - 1]!.at) + windowMs;
          retryAt = retryAt === null ? free : Math.max(retryAt, free);
        }
      }
      if (retryAt !== null) return { allowed: false, retryAt };
      const attemptIds: number[] = [];
      for (const subject of subjects) {
        const row = await tx.get<{ id: number | string }>('INSERT INTO sign_in_attempts (subject, at) VALUES (?, ?) RETURNING id', [subject, at]);
        attemptIds.push(num(row!.id));
      }
      return { allowed: true, attemptIds };
    });
  }

  async releaseSignIn(attemptIds: readonly number[], clearSubject: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (attemptIds.length > 0) await tx.run(`DELETE FROM sign_in_attempts WHERE id IN (${attemptIds.map(() => '?').join(', ')})`, [...attemptIds]);
      await tx.run('DELETE FROM sign_in_attempts WHERE subject = ?', [clearSubject]);
    });
  }

  async getUserById(id: UserId): Promise<User | null> {
    const row = await this.db.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`, [id]);
    return row ? toUser(row) : null;
  }

  async rolesOf(userId: UserId): Promise<Map<ProjectId, Role>> {
    const rows = await this.db.all<{ project_id: number | string; role: string }>('SELECT project_id, role FROM project_members WHERE user_id = ?', [userId]);
    return new Map(rows.map((r) => [asProjectId(num(r.project_id)), r.role as Role]));
  }

  async listMembers(projectId: ProjectId): Promise<Member[]> {
    return (await this.db.all<MemberRow>(`${MEMBER_SELECT} WHERE m.project_id = ? ORDER BY u.username`, [projectId])).map(toMember);
  }

  /**
   * Whether taking `userId`'s maintainer role away leaves the project without one: read under the
   * project's lock (PostgreSQL: an advisory lock per project; SQLite: its one writer), so of two
   * concurrent changes the second sees the first's result.
   */
  private async lastMaintainer(tx: SqlExecutor, projectId: ProjectId, userId: UserId): Promise<boolean> {
    await this.db.holdLock(tx, `project-members:${projectId}`);
    const rows = await tx.all<{ user_id: number | string }>("SELECT user_id FROM project_members WHERE project_id = ? AND role = 'maintainer'", [projectId]);
    return rows.length === 1 && num(rows[0]!.user_id) === userId;
  }

  async setMember(projectId: ProjectId, userId: UserId, role: Role, at: EpochMs, keepAMaintainer: boolean, audit?: AuditFor<Member>): Promise<MemberChange<Member>> {
    return this.db.transaction(async (tx) => {
      if (keepAMaintainer && role !== 'maintainer' && (await this.lastMaintainer(tx, projectId, userId))) return 'last-maintainer' as const;
      await tx.run(
        "INSERT INTO project_members (project_id, user_id, role, created_at, updated_at, granted_by) VALUES (?, ?, ?, ?, ?, 'manual') " +
          'ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at, granted_by = excluded.granted_by',
        [projectId, userId, role, at, at],
      );
      return auditIn(tx, audit, toMember((await tx.get<MemberRow>(`${MEMBER_SELECT} WHERE m.project_id = ? AND m.user_id = ?`, [projectId, userId]))!));
    });
  }

  async removeMember(projectId: ProjectId, userId: UserId, keepAMaintainer: boolean, audit?: AuditFor<boolean>): Promise<MemberChange<boolean>> {
    return this.db.transaction(async (tx) => {
      if (keepAMaintainer && (await this.lastMaintainer(tx, projectId, userId))) return 'last-maintainer' as const;
      return auditIn(tx, audit, (await tx.run('DELETE FROM project_members WHERE project_id = ? AND user_id = ?', [projectId, userId])).changes === 1);
    });
  }

  async createPersonalToken(t: NewPersonalToken, audit?: AuditFor<ApiToken>): Promise<ApiToken> {
    return audited(this.db, audit, async (x) => this.insertPersonalToken(x, t));
  }

  private async insertPersonalToken(x: SqlExecutor, t: NewPersonalToken): Promise<ApiToken> {
    const row = await x.get<TokenRow>(
      "INSERT INTO tokens (hash, kind, project_id, created_at, description, user_id, expires_at, read_only, projects) VALUES (?, 'personal', NULL, ?, ?, ?, ?, ?, ?) " +
        `RETURNING ${TOKEN_COLUMNS}`,
      [t.hash, t.createdAt, t.description, t.userId, t.expiresAt, t.readOnly ? 1 : 0, t.projects === null ? null : JSON.stringify(t.projects)],
    );
    return toToken(row!);
  }

  async listPersonalTokens(userId: UserId): Promise<ApiToken[]> {
    return (await this.db.all<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE user_id = ? AND kind = 'personal' ORDER BY id`, [userId])).map(toToken);
  }

  async deletePersonalToken(userId: UserId, id: number, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, async (x) => (await x.run("DELETE FROM tokens WHERE id = ? AND user_id = ? AND kind = 'personal'", [id, userId])).changes === 1);
  }
}
