/*
 * store-commit.pml: the file backend's commit (lock, stale takeover, read fresh, group commit, fence, backup,
 * temp write + size check + rename, directory fsync, acknowledge, release) for N writer processes and one reader.
 * Run with `pnpm verify` (models/verify.mjs); see README.md "Model checking".
 *
 * Step table (model step -> code, file:function). Files are under packages/pool-core/src/store/. The locked I/O
 * runs in the commit worker (commit-worker.ts); a process's first commits, made while the worker starts, run the
 * same steps on the main thread (commit-io.ts:mainThreadIO, with file-lock.ts and json-file.ts).
 *   client(): q[p] |= late update          file-backend.ts:update (queue.push while a commit may be waiting)
 *   writer(): loop while q[p] != 0           file-backend.ts:flushLoop
 *   LOCK_TRY: lk == 0 -> lk = me             commit-worker.ts:attemptLock -> proper-lockfile lock (mkdir)
 *   LOCK_STALE: saw stale, then rmdir        proper-lockfile acquireLock: stat, isLockStale, removeLock (2 steps:
 *                                            a second process can remove a lock that was just retaken)
 *   batch = q[p]; q[p] = 0                   file-backend.ts:commitQueued (batch = queue; queue = [])
 *   READ: rrev, rset = disk                  commit-worker.ts:readDocument -> file-backend.ts:currentFrom (parse)
 *   tset = rset | batch                      file-backend.ts:plan (mutators on a draft, validate; in memory)
 *   one-message path (commitIfUnchanged): batch and tset are taken before LOCK_TRY from the document this
 *   process last wrote, and used only if READ finds the file with that identity (rset is then that document),
 *   so it is the same as taking them after READ; otherwise they are taken again after READ as above.
 *   FENCE: d_rev == rrev else abort          commit-worker.ts:publish -> identityOf/readRevOnDisk (E_LOCK_COMPROMISED)
 *   BACKUP: b_rev = d_rev                    commit-worker.ts:keepBackup (link + rename of pool.json.bak)
 *   TEMP: temp written, maybe short          write-file-atomic (patched): write loop + fsync of the temp file
 *   SIZE: short temp -> E_POOL_IO            patches/write-file-atomic@7.0.1.patch size check before rename
 *   RENAME: disk = temp                      write-file-atomic (sync) rename, called from commit-worker.ts:publish
 *   FSYNC: durable = disk                    commit-worker.ts:publish (directory fsync)
 *   ACK: acked |= batch                      file-backend.ts:commitQueued (settleLater(op.resolve), run after release)
 *   RELEASE: lk == me -> lk = 0              commit-worker.ts:releaseHeld -> proper-lockfile unlock (rmdir);
 *                                            an unnoticed takeover means the rmdir removes the new holder's lock
 *   abort (fence failed): RELEASE           commit-worker.ts:publish (finally), then E_LOCK_COMPROMISED
 *   reader(): sees whole document            file-backend.ts:read (no lock; the file only changes by rename)
 *   pauser(): holder paused past `stale`     any step in commitQueued or the worker; marks the held lock stale
 *   killer(): SIGKILL of one writer          any step; a dead holder's lock goes stale
 *   powerloss(): disk reverts to durable     everything not made durable by fsyncDirectory is lost
 *
 * Assumption of the real model: no pause lands between FENCE and RENAME (they form one atomic step). The README
 * admits that window; -DPAUSE_WINDOW splits the step and spin finds the lost update (models/trails/).
 *
 * Properties (assertions; PROPS selects which are checked, default all):
 *   1 LOST     no acknowledged update is lost: every acked update is in the visible document, also after power loss
 *   2 REV      rev never goes back: each rename raises it; after power loss it is at least the last acked rev
 *   4 WHOLE    a reader (or a writer's read) never sees a partial document
 *   8 SPURIOUS a transaction aborts with E_LOCK_COMPROMISED only after some process paused or crashed
 *   no deadlock: spin's invalid end-state check (every writer finishes, dead or done)
 *
 * Mutants (-D flags): M_NO_FENCE, M_ACK_BEFORE_FSYNC, M_IN_PLACE, M_NO_SIZE_CHECK, M_RELEASE_EARLY,
 * M_NO_STALE_TAKEOVER,
 * M_ABORT_KEEPS_LOCK (the code before this model: a fence failure never released the lock, which leaks it for
 * good when the lock is ours, e.g. we broke the lock of a paused holder that then committed).
 */

#ifndef N
#define N 3
#endif
#ifndef MAXPAUSE
#define MAXPAUSE 1
#endif
#ifndef MAXFAULT
#define MAXFAULT 1 /* crashes, short writes and power losses together */
#endif
#ifndef LATE
#define LATE 1 /* how many writers get a second update while they may be committing (group commit) */
#endif
#ifndef PROPS
#define PROPS 15
#endif

#if (PROPS & 1)
#define CHECK_LOST(e) assert(e)
#else
#define CHECK_LOST(e) skip
#endif
#if (PROPS & 2)
#define CHECK_REV(e) assert(e)
#else
#define CHECK_REV(e) skip
#endif
#if (PROPS & 4)
#define CHECK_WHOLE(e) assert(e)
#else
#define CHECK_WHOLE(e) skip
#endif
#if (PROPS & 8)
#define CHECK_SPURIOUS(e) assert(e)
#else
#define CHECK_SPURIOUS(e) skip
#endif

#define U(p, k) (1 << ((p) * 2 + (k)))

/* pool.json as readers see it, and as it would be after a power loss */
byte d_rev;
byte d_set;
bool d_whole = true;
byte dur_rev;
byte dur_set;
bool dur_whole = true;
byte b_rev; /* pool.json.bak */

byte acked;    /* updates whose update() resolved */
byte ack_rev;  /* highest rev an acknowledgement carried */

/* pool.json.lock: holder pid+1 or 0, and whether its mtime is older than `stale` */
byte lk;
bool lk_stale;

byte q[N];
bool cdone[N];
bool killed[N];
byte pauses;
byte crashes;
byte faults;
bool powerlost;

proctype client(byte p) {
  {
    q[p] = q[p] | U(p, 1);
    cdone[p] = true
  } unless { killed[p] }
}

proctype writer(byte p) {
  byte rrev;
  byte rset;
  byte batch;
  byte tset;
  bool twhole;
  byte old;
  {
    do
    :: q[p] != 0 ->
      /* acquireFileLock: retry until held */
      do
      :: atomic { lk == 0 -> lk = p + 1; lk_stale = false; batch = q[p]; q[p] = 0; break }
#ifndef M_NO_STALE_TAKEOVER
      :: atomic { lk != 0 && lk_stale && lk != p + 1 } ->
        /* removeLock after isLockStale: unconditional rmdir of whatever lock is there now */
        atomic { lk = 0; lk_stale = false }
#endif
      od;

      /* readCurrent */
      atomic { rrev = d_rev; rset = d_set; CHECK_WHOLE(d_whole) };
      tset = rset | batch;

#ifdef M_RELEASE_EARLY
      atomic { if :: lk == p + 1 -> lk = 0; lk_stale = false :: else -> skip fi };
#endif

#ifdef PAUSE_WINDOW
      atomic {
        if
        :: d_rev != rrev -> goto aborted
        :: else -> skip
        fi
      }
      /* the window: a pause here is not detected */
      atomic {
#else
      atomic {
#ifndef M_NO_FENCE
        if
        :: d_rev != rrev -> goto aborted
        :: else -> skip
        fi;
#endif
#endif
        b_rev = d_rev;
#ifdef M_IN_PLACE
        /* writes pool.json itself: a reader can see the first half */
        d_whole = false
      }
      atomic {
        old = d_rev; d_rev = rrev + 1; d_set = tset; d_whole = true;
#else
        if
        :: twhole = true
        :: faults < MAXFAULT -> faults++; twhole = false
        fi;
#ifndef M_NO_SIZE_CHECK
        if
        :: !twhole -> goto io_error
        :: else -> skip
        fi;
#endif
        old = d_rev; d_rev = rrev + 1; d_set = tset; d_whole = twhole;
#endif
        CHECK_LOST((d_set & acked) == acked);
        CHECK_REV(d_rev > old);
        old = 0; rset = 0; tset = 0; twhole = false
      };

#ifdef M_ACK_BEFORE_FSYNC
      atomic { acked = acked | batch; if :: rrev + 1 > ack_rev -> ack_rev = rrev + 1 :: else fi; CHECK_LOST((d_set & acked) == acked); batch = 0 };
      atomic { dur_rev = d_rev; dur_set = d_set; dur_whole = d_whole };
#else
      /* fsyncDirectory: every rename so far in the directory is durable */
      atomic { dur_rev = d_rev; dur_set = d_set; dur_whole = d_whole };
      atomic { acked = acked | batch; if :: rrev + 1 > ack_rev -> ack_rev = rrev + 1 :: else fi; CHECK_LOST((d_set & acked) == acked); batch = 0 };
#endif
      goto release;

io_error:
      /* E_POOL_IO: nothing published; the callers are rejected and the lock released */
      skip;
release:
      atomic {
        if
        :: lk == p + 1 -> lk = 0; lk_stale = false
        :: lk != p + 1 ->
          if
          :: skip /* onCompromised fired: proper-lockfile refuses to remove a lock it lost */
          :: lk = 0; lk_stale = false /* not noticed yet: the rmdir removes the new holder's lock */
          fi
        fi
      };
      goto next;

aborted:
      /* E_LOCK_COMPROMISED: the callers are rejected */
      CHECK_SPURIOUS(pauses > 0 || crashes > 0);
#ifndef M_ABORT_KEEPS_LOCK
      /* the lock is released as after a commit: it may still be ours (we broke it while its holder was paused) */
      goto release;
#endif
next:
      atomic { rrev = 0; rset = 0; batch = 0; tset = 0; twhole = false; old = 0 }
    :: q[p] == 0 && cdone[p] -> break
    od
  } unless { killed[p] }
}

/* One read at any moment: the search tries every moment, and a looping reader would hide deadlocks. */
active proctype reader() {
  CHECK_WHOLE(d_whole)
}

/* A holder paused past `stale` at whatever step it is on: others may now take its lock over. */
active proctype pauser() {
end:
  do
  :: atomic { pauses < MAXPAUSE && lk != 0 && !lk_stale -> pauses++; lk_stale = true }
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
      :: !killed[v] ->
        crashes++;
        faults++;
        killed[v] = true;
        if
        :: lk == v + 1 -> lk_stale = true
        :: else -> skip
        fi
      :: else -> skip
      fi
    }
  od
}

#ifndef NO_POWERLOSS
active proctype powerloss() {
  byte v;
end:
  atomic {
    faults < MAXFAULT ->
    faults++;
    powerlost = true;
    d_rev = dur_rev; d_set = dur_set; d_whole = dur_whole;
    for (v : 0 .. N - 1) { killed[v] = true };
    if
    :: lk != 0 -> lk_stale = true
    :: else -> skip
    fi;
    CHECK_LOST((d_set & acked) == acked);
    CHECK_REV(d_rev >= ack_rev)
  }
}
#endif

init {
  byte i;
  atomic {
    for (i : 0 .. N - 1) {
      q[i] = U(i, 0);
      if
      :: i < LATE -> run client(i)
      :: else -> cdone[i] = true
      fi;
      run writer(i)
    }
  }
}
