// In-memory TOTP sessions: by design a restart means authenticating again. Expiry is checked on access, so no
// timer keeps a process alive or fires while nobody is looking.

export interface TotpSession {
  readonly principal: string;
  readonly startedAt: number;
  readonly lastActiveAt: number;
  /** Idle expiry: lastActiveAt + the session length. */
  readonly expiresAt: number;
}

export interface TotpChallenge {
  readonly principal: string;
  readonly openedAt: number;
  readonly expiresAt: number;
}

export interface SessionStore {
  /** The live session, extended by this activity; undefined when there is none or it went idle too long. */
  touch(principal: string): TotpSession | undefined;
  /** The live session without extending it. */
  get(principal: string): TotpSession | undefined;
  start(principal: string): TotpSession;
  end(principal: string): boolean;
  list(): TotpSession[];
  /** Opens (or reopens) the window in which a code answers a prompt. */
  openChallenge(principal: string): TotpChallenge;
  /** The open challenge, if it has not run out. */
  getChallenge(principal: string): TotpChallenge | undefined;
  closeChallenge(principal: string): void;
  /** When anyone first authenticated since this store was made; for `requireTotpToServe`. */
  readonly firstAuthenticatedAt: number | undefined;
}

export function createSessionStore(options: {
  idleMs: number;
  challengeMs: number;
  clock: () => number;
}): SessionStore {
  const { idleMs, challengeMs, clock } = options;
  const sessions = new Map<string, TotpSession>();
  const challenges = new Map<string, TotpChallenge>();
  let firstAuthenticatedAt: number | undefined;

  const live = (principal: string, now: number): TotpSession | undefined => {
    const session = sessions.get(principal);
    if (!session) return undefined;
    if (session.expiresAt <= now) {
      sessions.delete(principal);
      return undefined;
    }
    return session;
  };

  return {
    touch(principal) {
      const now = clock();
      const session = live(principal, now);
      if (!session) return undefined;
      const extended = { ...session, lastActiveAt: now, expiresAt: now + idleMs };
      sessions.set(principal, extended);
      return extended;
    },
    get: (principal) => live(principal, clock()),
    start(principal) {
      const now = clock();
      const session = { principal, startedAt: now, lastActiveAt: now, expiresAt: now + idleMs };
      sessions.set(principal, session);
      challenges.delete(principal);
      firstAuthenticatedAt ??= now;
      return session;
    },
    end: (principal) => sessions.delete(principal),
    list() {
      const now = clock();
      return [...sessions.keys()]
        .map((principal) => live(principal, now))
        .filter((s): s is TotpSession => s !== undefined);
    },
    openChallenge(principal) {
      const now = clock();
      const challenge = { principal, openedAt: now, expiresAt: now + challengeMs };
      challenges.set(principal, challenge);
      return challenge;
    },
    getChallenge(principal) {
      const challenge = challenges.get(principal);
      if (!challenge) return undefined;
      if (challenge.expiresAt <= clock()) {
        challenges.delete(principal);
        return undefined;
      }
      return challenge;
    },
    closeChallenge: (principal) => void challenges.delete(principal),
    get firstAuthenticatedAt() {
      return firstAuthenticatedAt;
    },
  };
}
