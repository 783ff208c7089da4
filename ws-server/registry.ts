import type { Session } from './session.js';

/** Which authenticated sockets of which user live on this instance (wakes are pushed by it; route.ts registers its users in Redis). */
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

  /** True when that was the user's last socket here (route.ts then leaves the user's route). */
  remove(userId: string, session: Session): boolean {
    const sessions = this.byUser.get(userId);
    if (!sessions) return false;
    sessions.delete(session);
    if (sessions.size > 0) return false;
    this.byUser.delete(userId);
    return true;
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
