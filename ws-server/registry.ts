import type { Session } from './session.js';

/** Which authenticated sockets of which user live on this instance (wake-ups route by it). */
export class ConnectionRegistry {
  private readonly byUser = new Map<string, Set<Session>>();

  constructor(private readonly maxSocketsPerUser: number) {}

  /** False when the user already holds the maximum number of sockets here. */
  add(userId: string, session: Session): boolean {
    const sessions = this.byUser.get(userId) ?? new Set<Session>();
    if (sessions.size >= this.maxSocketsPerUser) return false;
    sessions.add(session);
    this.byUser.set(userId, sessions);
    return true;
  }

  remove(userId: string, session: Session): void {
    const sessions = this.byUser.get(userId);
    if (!sessions) return;
    sessions.delete(session);
    if (sessions.size === 0) this.byUser.delete(userId);
  }

  sessionsOf(userId: string): Session[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  /** Every user with a socket here (a copy: safe while sockets come and go). */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  get userCount(): number {
    return this.byUser.size;
  }
}
