/*
 * refresh.pml: single-flight OAuth refresh of one credential by N processes (refresher.ts), against a token
 * endpoint that rotates single-use refresh tokens, marks the sent one used, and revokes the whole family when a used
 * token comes back. Each pool read or update() is one atomic step: store-commit.pml checks that the store is
 * linearizable. Run with `pnpm verify` (models/verify.mjs); see README.md "Model checking".
 *
 * Step table (model step -> code, file:function). Files are under packages/pool-core/src/refresh/.
 *   seen = rt; not due -> fresh           refresher.ts:run (readCredential, isDue)
 *   LOCK_TRY / LOCK_STALE / ADOPT_WAIT      refresher.ts:lockOrAdopt (backend.lock -> store file-lock.ts:acquireFileLock
 *                                          with proper-lockfile's stale takeover; check() adopts a newer pair)
 *   READ fresh                             refresher.ts:refreshUnderLock (readCredential)
 *   ADOPT: fresh changed and not due       refresher.ts:refreshUnderLock (tokensChanged && !isDue; !isDue -> fresh)
 *   dead -> fail                           refresher.ts:refreshUnderLock (status dead && !force)
 *   marker alive -> WAIT                   refresher.ts:isHolderAlive + waitForOtherAttempt
 *   marker of a dead holder -> interrupted refresher.ts:refreshUnderLock (interrupted = state.inFlight)
 *   MARK: CAS(rt and refresh state as read) refresher.ts:refreshUnderLock (swap(..., unchanged) sets inFlight)
 *   lock lost -> STEPBACK                  refresher.ts:refreshUnderLock (lock.signal.aborted, recordFailure)
 *   POST                                   token-request.ts:postRefreshRequest (server(): the provider)
 *   answer lost -> unknown                 token-request.ts:postRefreshRequest (timeout / network error)
 *   COMMIT: CAS(rt == sent) rt = new       refresher.ts:settle "granted" -> commitGrant -> swap
 *   FIND_NEWER: rt != sent -> adopt        refresher.ts:findNewerPair ("terminal" and "unknown")
 *   DEAD: CAS(rt == sent) dead = true      refresher.ts:settle -> recordFailure -> swap
 *   RELEASE                                refresher.ts:run (finally lock.release) -> file-lock.ts release
 *   relogin(): the pair replaced           sources/ sync of a re-login (any update() that replaces secrets)
 *   pauser(): lock holder paused > stale   any await while holding the refresh lock
 *   killer(): SIGKILL                      any step; a dead holder's lock goes stale, its marker is not alive
 *
 * Assumption of the real model: a live holder of the in-flight marker is never paused past the request timeout plus
 * the grace (isHolderAlive treats such a marker as abandoned). -DLONG_PAUSE drops it and spin finds the resend.
 *
 * Properties (PROPS selects which are checked, default all safety ones):
 *   1 ONCE     a refresh token is sent at most once; the only resend is by the next holder after the process that
 *              sent it was killed before recording the outcome (the provider then revokes; see kill-mid-refresh.test.ts)
 *   2 DEAD     the credential is marked dead only while the pool holds the token that was sent and no live process
 *              holds a newer one it has not committed yet
 *   4 TOKMONO  the pool's refresh token never goes back to an older one
 *   no deadlock: spin's invalid end-state check
 *   LIVE (-DLIVE, ltl live): under weak fairness, with no crash, pause or lost answer, every process eventually
 *              holds a token that was valid when it got it
 *
 * Mutants (-D flags): M_NO_MARKER (in-flight marker ignored), M_PLAIN_MARKER (marker CAS replaced by a plain write),
 * M_PLAIN_COMMIT (commit CAS on the sent token replaced by a plain write), M_NO_FIND_NEWER (dead without the
 * guarded re-read), M_NO_RELEASE (lock never released), M_MARKER_TOKEN_ONLY (the code before this model: the marker swap compared
 * only the refresh token, so a holder that lost its lock could overwrite, then erase, the live marker of the process
 * that broke it, or mark a token another holder had just declared dead), M_NO_ADOPT (the re-read under the lock skipped: the caller's
 * copy is used).
 */

#ifndef N
#define N 3
#endif
#ifndef MAXPAUSE
#define MAXPAUSE 1
#endif
#ifndef MAXFAULT
#define MAXFAULT 1 /* crashes and lost answers together */
#endif
#ifndef MAXRELOGIN
#define MAXRELOGIN 1
#endif
#ifndef PROPS
#define PROPS 7
#endif
#ifdef LIVE
#undef MAXPAUSE
#define MAXPAUSE 0
#undef MAXFAULT
#define MAXFAULT 0
#undef MAXRELOGIN
#define MAXRELOGIN 0
#endif

#if (PROPS & 1)
#define CHECK_ONCE(e) assert(e)
#else
#define CHECK_ONCE(e) skip
#endif
#if (PROPS & 2)
#define CHECK_DEAD(e) assert(e)
#else
#define CHECK_DEAD(e) skip
#endif
#if (PROPS & 4)
#define CHECK_TOKMONO(e) assert(e)
#else
#define CHECK_TOKMONO(e) skip
#endif

#define MAXT 8
#define BIT(t) (1 << (t))
#define DUE(t) ((t) == 1)

mtype = { GRANTED, TERMINAL, UNKNOWN };

/* The credential in the pool. Tokens are numbered in the order the provider issued them. */
byte rt = 1;
bool dead;
byte mk;        /* inFlight marker: holder pid + 1, or 0 */
byte mk_tok;
byte rs;        /* stands for the credential's refresh state: every refresher write to it changes it */
bool mk_expired; /* LONG_PAUSE: the marker's holder was paused past timeout + grace */

/* The provider */
byte latest = 1;
byte valid = 2;  /* BIT(1): tokens it would accept */
byte fam[MAXT];  /* token -> login family */
byte sends[MAXT];
byte sender[MAXT];

/* The credential's refresh lock */
byte lk;
bool lk_stale;

bool crashed[N];
byte pend;      /* bit p: process p holds a granted pair it has not committed */
byte pauses;
byte faults;
byte relogins;
byte ok;        /* processes that got a token valid at that moment */
byte finished;

#define SETRT(t) CHECK_TOKMONO((t) > rt); rt = (t)

proctype refresher(byte p) {
  byte seen, known, fresh, fmk, ftok, frs, sent, got, round, hold, i;
  bool fdead, fexp, applied, noticed;
  mtype res;
  {
    seen = rt;
    if
    :: !DUE(seen) -> hold = seen; goto holding
    :: else -> skip
    fi;

    /* lockOrAdopt */
    do
    :: atomic { lk == 0 -> lk = p + 1; lk_stale = false; break }
    :: atomic { lk != 0 && lk_stale && lk != p + 1 } -> atomic { lk = 0; lk_stale = false }
    :: atomic { rt != seen && !DUE(rt) -> hold = rt; goto holding }
    od;

    /* refreshUnderLock */
    known = seen;
    round = 0;
    do
    :: round >= 3 -> goto failed /* refresh_contended */
    :: round < 3 ->
#ifdef M_NO_ADOPT
      atomic { fresh = seen; fdead = dead; fmk = mk; ftok = mk_tok; fexp = mk_expired; frs = rs };
#else
      atomic { fresh = rt; fdead = dead; fmk = mk; ftok = mk_tok; fexp = mk_expired; frs = rs };
#endif
      if
      :: fresh != known && !DUE(fresh) -> hold = fresh; goto release_holding /* adopted */
      :: !DUE(fresh) -> hold = fresh; goto release_holding /* fresh */
      :: else -> skip
      fi;
      if
      :: fdead -> goto release_failed
      :: else -> skip
      fi;
#ifndef M_NO_MARKER
      if
      :: fmk != 0 && ftok == fresh && !crashed[fmk - 1] && !fexp ->
        /* waitForOtherAttempt: until the token or the marker changes, or the deadline passes */
        if
        :: atomic { rt != fresh || mk != fmk -> known = fresh; round++; fdead = false; fmk = 0; ftok = 0; frs = 0; fexp = false; goto next_round }
        :: atomic { crashed[fmk - 1] || mk_expired } -> goto release_failed /* refresh_in_progress */
        fi
      :: else -> skip /* no marker, or an abandoned one: interrupted */
      fi;
#endif
      atomic {
#ifdef M_PLAIN_MARKER
        if :: true -> mk = p + 1; mk_tok = fresh; mk_expired = false; rs++; applied = true fi;
#elif defined(M_MARKER_TOKEN_ONLY)
        if
        :: rt == fresh -> mk = p + 1; mk_tok = fresh; mk_expired = false; rs++; applied = true
        :: else -> applied = false
        fi;
#else
        if
        :: rt == fresh && rs == frs -> mk = p + 1; mk_tok = fresh; mk_expired = false; rs++; applied = true
        :: else -> applied = false
        fi;
#endif
        fdead = false; fmk = 0; ftok = 0; frs = 0; fexp = false
      };
      if
      :: !applied -> known = fresh; round++; goto next_round
      :: else -> applied = false
      fi;
      /* lock.signal.aborted */
      if
      :: lk != p + 1 ->
        if
        :: atomic { /* noticed: step back, clearing our marker */ noticed = true; if :: mk == p + 1 -> mk = 0; rs++ :: else fi }; goto release_failed
        :: skip /* not noticed yet */
        fi
      :: else -> skip
      fi;

      /* POST: the provider acts unless the request is lost on the way */
      atomic {
        sent = fresh;
        fresh = 0;
        known = 0;
        seen = 0;
        CHECK_ONCE(sends[sent] == 0 || crashed[sender[sent]]);
        sends[sent]++;
        sender[sent] = p;
        if
        :: faults < MAXFAULT -> faults++; res = UNKNOWN /* lost before it arrived */
        :: true ->
          if
          :: (valid & BIT(sent)) != 0 ->
            valid = valid & ~BIT(sent);
            latest++;
            fam[latest] = fam[sent];
            valid = valid | BIT(latest);
            got = latest;
            res = GRANTED
          :: else ->
            /* reuse: the provider revokes the whole login */
            for (i : 1 .. latest) { if :: fam[i] == fam[sent] -> valid = valid & ~BIT(i) :: else fi };
            i = 0;
            res = TERMINAL
          fi;
          if
          :: res == GRANTED && faults < MAXFAULT -> faults++; res = UNKNOWN; got = 0 /* answer lost */
          :: else -> skip
          fi
        fi;
        if
        :: res == GRANTED -> pend = pend | BIT(p)
        :: else -> skip
        fi
      };

      /* settle */
      if
      :: res == GRANTED ->
        atomic {
#ifdef M_PLAIN_COMMIT
          if :: true ->
#else
          if
          :: rt == sent ->
#endif
            SETRT(got); dead = false; mk = 0; rs++; hold = got
          :: else -> hold = rt /* theirs wins */
          fi;
          pend = pend & ~BIT(p)
        };
        goto release_holding
      :: else ->
#ifndef M_NO_FIND_NEWER
        atomic {
          if
          :: rt != sent -> hold = rt; goto release_holding
          :: else -> skip
          fi
        };
#endif
        atomic {
#ifdef M_NO_FIND_NEWER
          if :: true ->
#else
          if
          :: rt == sent ->
#endif
            CHECK_DEAD(rt == sent && pend == 0);
            dead = true;
            mk = 0;
            rs++;
            applied = true
          :: else -> applied = false
          fi
        };
        if
        :: !applied && rt != sent -> atomic { hold = rt; goto release_holding }
        :: else -> goto release_failed
        fi
      fi;
next_round:
      skip
    od;

release_holding:
    atomic { seen = 0; known = 0; fresh = 0; fdead = false; fmk = 0; ftok = 0; frs = 0; fexp = false; sent = 0; got = 0; res = 0; round = 0; applied = false };
release_failed:
    atomic { seen = 0; known = 0; fresh = 0; fdead = false; fmk = 0; ftok = 0; frs = 0; fexp = false; sent = 0; got = 0; res = 0; round = 0; applied = false };
#ifndef M_NO_RELEASE
    atomic {
      if
      :: lk == p + 1 -> lk = 0; lk_stale = false
      :: lk != p + 1 ->
        if
        :: skip /* onCompromised fired: not ours to remove */
        :: !noticed -> lk = 0; lk_stale = false /* not noticed: the rmdir removes the new holder's lock */
        fi
      fi
    };
#endif
    if
    :: hold == 0 -> goto failed
    :: else -> skip
    fi;
holding:
    atomic {
      if
      :: (valid & BIT(hold)) != 0 -> ok++
      :: else -> skip
      fi;
      finished++
    };
    goto done;
failed:
    finished++;
done:
    skip
  } unless { crashed[p] }
}

/* A lock holder paused past `stale` (and, with LONG_PAUSE, past the marker's timeout + grace). */
active proctype pauser() {
end:
  do
  :: atomic { pauses < MAXPAUSE && lk != 0 && !lk_stale -> pauses++; lk_stale = true }
#ifdef LONG_PAUSE
  :: atomic { pauses < MAXPAUSE && mk != 0 && !mk_expired -> pauses++; lk_stale = true; mk_expired = true }
#endif
  od
}

active proctype killer() {
  byte v;
end:
  do
  :: atomic {
      faults < MAXFAULT ->
      select(v : 0 .. N - 1);
      if
      :: !crashed[v] ->
        faults++;
        crashed[v] = true;
        pend = pend & ~BIT(v);
        if
        :: lk == v + 1 -> lk_stale = true
        :: else -> skip
        fi
      :: else -> skip
      fi
    }
  od
}

/* A re-login synced from the source file: a new family, and the credential is usable again. */
active proctype relogin() {
end:
  atomic {
    relogins < MAXRELOGIN ->
    relogins++;
    latest++;
    fam[latest] = relogins;
    valid = valid | BIT(latest);
    SETRT(latest);
    dead = false
  }
}

#ifdef LIVE
ltl live { <> (ok == N) }
#endif

init {
  byte i;
  atomic {
    for (i : 0 .. N - 1) { run refresher(i) }
  }
}
