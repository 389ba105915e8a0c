"""Logging from the training loop into a long-running `emalog ingest -` child."""
from __future__ import annotations

import fcntl
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Any, Mapping, Optional, Sequence, Union

from . import _capture, _frame, _shards, _slots
from ._cli import ERROR_FORMAT, EmalogError, binary, error_from, in_python_words, read_stderr
from ._cli import run as _run
from ._ema import Spec, spec_texts

_CLOSE = object()


class EmalogWarning(UserWarning):
    """Something emalog did not store as given, while the run goes on (a metric value that
    differs from a stored one, a key that is not a number); or a shadow that was synthesised
    from snapshots (EDM2's post-hoc method: an approximation, its fit error said)."""


def _remove_abandoned_spools(spool):
    """Removes spool folders (emalog-spool-*) that no process uses: what a Logger killed with SIGKILL
    left. A Logger holds an flock on its folder's .lock for its lifetime and its ingest inherits the
    descriptor, so a folder whose lock can be taken belongs to no live process, whatever PID
    namespace that process ran in. Folders without a lock file, or of other names, stay."""
    try:
        names = os.listdir(spool)
    except OSError:
        return
    for name in names:
        if not name.startswith("emalog-spool-"):
            continue
        folder = os.path.join(spool, name)
        try:
            fd = os.open(os.path.join(folder, ".lock"), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        shutil.rmtree(folder, ignore_errors=True)  # under the lock: nobody takes the folder meanwhile
        os.close(fd)


class Logger:
    """Feeds each step (and metrics) to `emalog ingest --db DB ... -` over a pipe: no step files.

    `step()` builds the step's frame (one copy of each tensor; a GPU tensor is copied to the CPU
    once, straight into the frame) and hands it to a writer thread through a queue of
    `queue_steps` frames: training waits only when the child is that far behind, so memory stays
    at about `queue_steps + 1` steps plus the pipe's 64 KiB. A refusal or crash of the child
    surfaces as `EmalogError` with emalog's message on the next call; `close()` (or leaving the
    `with` block) waits until every step sent has committed and raises if any did not. The child
    runs in its own session, so a Ctrl-C in the training script does not reach it: it commits
    every step it received whole, and a step cut short by the script's end is refused alone.

    Each record is flushed to the pipe as soon as it is written: a step whose `step()` returned is
    on its way even if the script is killed next. Metrics given with `step()` travel just before
    the step and commit in its transaction. A metric value that differs from a stored one is
    not stored and becomes an `EmalogWarning` (naming the key and step) on a later call; the
    step's weights are logged. emalog's warnings are re-raised the same way.
    """

    def __init__(self, db: "str | os.PathLike[str]", ema: Union[Spec, Sequence[Spec]] = (),
                 snapshot_every: Optional[int] = None, keyframe_every: Optional[int] = None, queue_steps: int = 2,
                 replace: bool = False, allow_nonfinite: bool = False, spool: Optional[str] = None,
                 resume_from: Optional[int] = None, raw_every: Optional[int] = None,
                 raw_keep_last: Optional[int] = None, transport: str = "shm", slots: int = 4,
                 priority: str = "idle", copy: str = "at_step", rank: Optional[int] = None,
                 world_size: Optional[int] = None, sharded: Optional[bool] = None) -> None:
        """Starts `emalog ingest --db DB -` for this run.

        Args:
            db: the log file (created when missing; a log with steps goes on after its last step).
            ema: the tracks: spec strings ("0.999", "name=slow,decay=0.9999,schedule=warmup"),
                `emalog.EMA(...)` profiles, or a list of them; left out, the log's tracks go on.
            snapshot_every: a snapshot of every track every this many steps (default: `raw_every`
                when the log keeps raw steps by a policy, else 1000).
            keyframe_every: a keyframe every this many steps (default 32).
            queue_steps: steps that may wait for emalog before `step()` waits.
            replace: a step the log has is replaced (default: refused unless identical).
            allow_nonfinite: store steps with NaN/Inf values (default: refused).
            spool: a folder (or "auto": /dev/shm) to hand steps over as files instead of the pipe.
            resume_from: the step of the checkpoint training resumes from: the log is truncated
                after it first (`emalog truncate`), so the steps of the abandoned continuation never
                mix into the tracks or the metrics.
            raw_every: keep the raw weights of every this-many-th step only (and of the first, the
                last `raw_keep_last` and pinned steps); every step still updates every track, exactly.
                Recorded in the log: later Loggers on it follow it.
            raw_keep_last: with `raw_every`, also keep the raw weights of the last this many steps.
            transport: "shm" (default on Linux): each step is copied once into a slot of shared
                memory, off the training thread (see below), and emalog reads it there; "pipe":
                each step's bytes through the pipe (a copy on the training thread, then the pipe).
            slots: with "shm", the most slots (each one step) the shared memory grows to; the
                memory the Logger holds is `slots` times the step's size (at least 3, and 3 more
                than `raw_keep_last`: emalog holds those steps).
            copy: with "shm", "at_step" (default): each step is copied into its slot before
                log.step() returns (one copy, exact whatever the loop does next). "background":
                the Logger's writer thread copies it while training goes on, and any torch
                optimizer's step() waits for that copy; a tensor changed in place before its copy
                refuses the step. Writes that bypass torch's version counters cannot be seen:
                `p.data.clamp_()` (WGAN weight clipping, hand-written weight decay) or writes
                through a numpy view, made between log.step() and the next optimizer.step(),
                would be stored. Use "background" only for loops that change weights through the
                optimizer.
            priority: emalog's CPU priority: "idle" (default, Linux's SCHED_IDLE: it runs on
                the cores training leaves idle, and catches up when the slots are full and
                training waits for one), "low" (nice 10) or "normal" (training's own).
            rank, world_size: this process's rank in sharded training; by default those of the
                `torch.distributed` job it is in. With either, `db` is a folder and this rank writes
                `db/rank-RRRRR.emalog` with its slices of the model: each DTensor's local shard
                (FSDP2, tensor parallelism, any mesh), each `emalog.Slice`, and on rank 0 the plain
                tensors (DDP's, buffers); a slice several ranks hold is stored once. Every rank
                calls `step()` for every step. Readers given the folder answer for the whole model.
            sharded: False: `db` is one log of the whole state given to `step()`, even in a
                `torch.distributed` job (a DDP script logging on rank 0 alone, or a gathered
                state); True: a rank's log in the folder `db`. The default: True in such a job,
                unless `db` is a log file already (a run that logged one before goes on).

        Raises:
            EmalogError: the binary is missing; emalog's refusals come on a later call.
        """
        # A rank of sharded training writes its own log in the folder `db`.
        self._sharding = None
        if sharded is None:
            # In a distributed job; but a log file from before (a DDP script's rank-0 log) goes on as one log.
            sharded = (rank is not None or world_size is not None or _shards.world() is not None) \
                and not os.path.isfile(os.fspath(db))
        if sharded:
            joined = _shards.world() or (0, 1)
            rank = joined[0] if rank is None else int(rank)
            world_size = joined[1] if world_size is None else int(world_size)
            self._sharding = _shards.Sharding(rank, world_size)
            if os.path.isfile(os.fspath(db)):
                raise ValueError(f"{os.fspath(db)} is a log file; in sharded training db is a folder that holds one log per "
                                 "rank (sharded=False: one log of the whole state given to step())")
            os.makedirs(os.fspath(db), exist_ok=True)
            db = os.path.join(os.fspath(db), f"rank-{rank:05d}.emalog")
        self.path = os.fspath(db)
        # What the log already holds, read once (`emalog info`): where a resumed run starts, and the
        # retention policy's N when none is given (a K alone keeps the log's N).
        stored = {}
        if os.path.exists(os.fspath(db)) and (resume_from is not None or raw_keep_last is None):
            if resume_from is not None:
                _run(["truncate", "--db", os.fspath(db), f"--after={int(resume_from)}"])
            from ._load import info
            try:
                stored = info(db) or {}
            except EmalogError:
                stored = {}  # emalog says what is wrong when it opens the log
        last = stored.get("last_step")
        if resume_from is not None and last is not None and last < int(resume_from):
            # The log stopped short of the checkpoint (emalog was killed with steps not yet
            # stored): the tracks would skip the steps between. Said, not hidden.
            warnings.warn(f"resume_from={int(resume_from)}, but the log ends at step {last}: steps {last + 1} to "
                          f"{int(resume_from)} are not in it, so every track goes on from step {last} without them "
                          f"(resume training from a checkpoint at or before step {last} to keep the tracks exact)",
                          EmalogWarning, stacklevel=2)
        args = [binary(), ERROR_FORMAT, "ingest", "--db", os.fspath(db)]
        for spec in spec_texts(ema):
            args += ["--ema", spec]
        if snapshot_every is not None:
            args += ["--snapshot-every", str(int(snapshot_every))]
        if keyframe_every is not None:
            args += ["--keyframe-every", str(int(keyframe_every))]
        if raw_every is not None:
            args += ["--raw-every", str(int(raw_every))]
        if raw_keep_last is not None:
            args += ["--raw-keep-last", str(int(raw_keep_last))]
        if replace:
            args.append("--replace")
        if allow_nonfinite:
            args.append("--allow-nonfinite")
        # emalog holds the bytes of the last raw_keep_last steps a retention policy would leave out
        # (they keep them if the run ends there) and the one it reads: the slots and the spool's
        # files in flight must leave room beside them.
        keep_last = raw_keep_last if raw_keep_last is not None else (stored.get("retention") or {}).get("raw_keep_last")
        held = int(keep_last or 0)
        if transport not in ("shm", "pipe"):
            raise ValueError(f"transport must be 'shm' or 'pipe', not {transport!r}")
        if copy not in ("background", "at_step"):
            raise ValueError(f"copy must be 'background' or 'at_step', not {copy!r}")
        if priority not in ("idle", "low", "normal"):
            raise ValueError(f"priority must be 'idle', 'low' or 'normal', not {priority!r}")
        self._ring = None
        self._capture = None
        # (More held steps than a slot table has slots: their frames go through the pipe.)
        if transport == "shm" and not spool and _slots.available() and held + 3 <= _slots.MAX_SLOTS:
            self._ring = _slots.SlotRing(max(int(slots), held + 3))
            self._capture = _capture.Capture()
            if copy == "at_step":
                self._capture.small_step = float("inf")  # every step copied in log.step() itself
            args += ["--shared-memory-fd", str(self._ring.fd)]
        # The spool: each step written as a file in memory (/dev/shm), named to emalog over the
        # pipe, deleted by emalog once committed. A pipe that carries the bytes themselves
        # (spool=None) is slower where pipes are (200-500 MB/s on the machine this was built on).
        if spool == "auto":
            spool = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self._spool = None
        self._sent = []  # spool files named to emalog, oldest first
        # With a spool, emalog deletes a step's file once the step after it is under way: fewer
        # than two files in flight would wait for each other.
        self._queue_steps = max(2 + held if spool else 1, int(queue_steps))
        self._spool_lock = None
        if spool:
            _remove_abandoned_spools(spool)
            args.append("--remove-ingested")
            # Locked for as long as this Logger or its ingest lives (the ingest inherits the descriptor):
            # the next Logger with this spool removes the folder only once nobody holds it.
            self._spool = tempfile.mkdtemp(prefix=f"emalog-spool-{os.getpid()}-", dir=spool)
            self._spool_lock = os.open(os.path.join(self._spool, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._spool_lock, fcntl.LOCK_EX)
        script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c") else "python"
        source = "".join(c if c.isprintable() else "?" for c in f"{script} via emalog.Logger (pid {os.getpid()})")
        source = source.encode("utf-8")[:4000].decode("utf-8", "ignore")  # a bound in bytes, whole characters
        args += ["--source", source, "-"]
        passed = tuple(fd for fd in (self._spool_lock, self._ring.fd if self._ring else None) if fd is not None)
        self._process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         start_new_session=True, pass_fds=passed)
        # emalog's threads (created after this, by its first) take the cores training leaves idle;
        # when it falls behind, training waits for a slot (or the queue) and it catches up.
        try:
            if priority == "idle":
                os.sched_setscheduler(self._process.pid, os.SCHED_IDLE, os.sched_param(0))
            elif priority == "low":
                os.setpriority(os.PRIO_PROCESS, self._process.pid, 10)
        except (OSError, AttributeError):
            pass  # not Linux, or not allowed: the same priority as training
        try:  # a 1 MiB pipe (Linux): fewer switches between the two processes per step
            fcntl.fcntl(self._process.stdin.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
        except OSError:
            pass
        self._stderr = bytearray()  # emalog's JSON lines (--error-format json)
        self._warnings = []  # emalog's warnings not yet raised in the training thread
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        self._queue = queue.Queue(maxsize=max(1, int(queue_steps)))
        self._failure = None
        self._refusal = None  # why the Logger stopped sending steps (a step changed before its copy)
        # Frames already written, reused for the next steps (same size every step).
        self._spares = []
        self._closed = False
        self._last_step: Optional[int] = None
        self.summary = None
        self._writer = None
        if not self._spool:
            self._writer = threading.Thread(target=self._write, daemon=True)
            self._writer.start()

    def _read_stderr(self):
        pending = b""
        for chunk in iter(lambda: self._process.stderr.read1(65536), b""):
            self._stderr += chunk
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for message in read_stderr(b"\n".join(lines)).warnings:
                self._warnings.append(in_python_words(message))

    def _raise_warnings(self, stacklevel=4):
        """emalog's warnings, raised in the caller's thread at the user's line (step/metrics/close)."""
        while self._warnings:
            warnings.warn(self._warnings.pop(0), EmalogWarning, stacklevel=stacklevel)

    def _write(self):
        stdin = self._process.stdin
        try:
            while True:
                item = self._queue.get()
                if item is _CLOSE:
                    break
                if isinstance(item, _capture.Job):
                    item = self._filled(item)
                    if item is None:
                        break
                for part in item:
                    stdin.write(part)
                stdin.flush()  # on its way now: nothing waits in Python's buffer for the next step
                for k in range(0, len(item), 2):
                    if item[k] == b"S" and len(self._spares) < 2:
                        self._spares.append(item[k + 1])
        except BaseException as error:  # a pipe that broke, or anything else: calls must not wait for this thread
            self._failure = error
        finally:
            # Let a blocked put() go on: drop what is queued (the child has stopped, or a step could
            # not be sent: no later step may go without it).
            while self._failure is not None or self._refusal is not None:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _capture.Job):
                    item.slot.busy = False
                    self._capture.done(item)
                if item is _CLOSE:
                    break
            if self._capture is not None:
                self._capture.stop()
            try:
                stdin.close()
            except OSError:
                pass

    def _filled(self, job):
        """The records of a step in shared memory (its metrics, its `Z` record) once the writer
        thread has copied it into its slot; None when a tensor changed before it was copied."""
        try:
            self._capture.fill(job)
        except _capture.WeightsChanged as error:
            job.slot.busy = False
            self._refusal = str(error)
            return None
        return job.parts + [self._ring.publish(job.slot, job.frame.size)]

    def _raise_if_failed(self):
        if self._refusal is not None:
            raise EmalogError(self._refusal + "; emalog stored the steps before it", kind="bad_input")
        if self._failure is not None and not isinstance(self._failure, OSError):
            raise EmalogError(f"the Logger's writer thread failed ({type(self._failure).__name__}: {self._failure}); "
                              "emalog stored the steps it was sent before that") from self._failure
        if self._failure is not None or self._process.poll() not in (None, 0):
            self._process.wait()
            self._stderr_reader.join()
            raise error_from(bytes(self._stderr), self._process.returncode, "emalog ingest", in_python_words)

    def _send(self, data):
        """Writes a small record on the pipe (spool mode)."""
        try:
            self._process.stdin.write(data)
            self._process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            self._failure = error
            self._raise_if_failed()
            raise EmalogError(f"emalog ingest stopped reading: {error}") from error

    def _wait_for_spool(self):
        """Back-pressure: at most `queue_steps` spool files not yet committed."""
        while True:
            self._sent = [path for path in self._sent if os.path.exists(path)]
            if len(self._sent) < self._queue_steps:
                return
            self._raise_if_failed()
            time.sleep(0.001)

    def _check_usable(self):
        """Before any work for a call: the Logger is open and emalog has not stopped."""
        if self._closed:
            raise EmalogError("this Logger is closed")
        self._raise_warnings()
        self._raise_if_failed()

    def _put(self, parts):
        if self._spool:
            self._send(b"".join(parts))  # a step's metrics and its F record in one write
            return
        while True:
            try:
                self._queue.put(parts, timeout=0.5)
                return
            except queue.Full:
                self._raise_if_failed()

    def step(self, step: int, state: Any, metrics: Optional[Mapping[str, float]] = None) -> None:
        """Logs one step: its weights go to emalog at once (the call returns once they are handed
        over; training goes on while emalog stores them).

        Args:
            step: the optimizer step, ascending (>= 0).
            state: an nn.Module, a state_dict, or a dict of numpy arrays (the same tensors every step).
            metrics: numbers for this step ({"loss": 0.5}), stored in the step's transaction.

        Raises:
            EmalogError: emalog refused an earlier step or stopped (its message).
        """
        self._check_usable()
        if self._sharding is not None:
            state = self._sharding.local(state)
        # The step's metrics go just before it: emalog stores them in the step's transaction.
        parts = [b"M", _frame.metrics_line(step, metrics)] if metrics else []
        if self._ring is not None:
            job = self._capture.prepare(state, step, lambda nbytes: self._ring.acquire(nbytes, self._raise_if_failed), parts)
            self._put(job)
            if job.wait_for_copy:
                self._capture.wait_for(job)
            self._last_step = int(step)
            return
        if self._spool:
            self._wait_for_spool()
            path = os.path.join(self._spool, f"step-{int(step):012d}.safetensors")
            _frame.write_file(state, step, path)
            self._sent.append(path)
            parts += [b"F", os.fsencode(path) + b"\n"]
        else:
            parts += [b"S", _frame.build(state, step, self._spares)]
        self._put(parts)
        self._last_step = int(step)

    def pin(self, name: str, step: Optional[int] = None) -> None:
        """Names a logged step (`emalog pin`), e.g. the best so far: its raw weights then survive
        the log's retention policy (`raw_every`), and readers take `step=name`. A name already
        used moves.

        Args:
            name: 1 to 200 characters, no control characters, not a number.
            step: a step already given to `step()` (default: the latest one).

        Raises:
            ValueError: no step logged yet, or a name with a newline or control character.
            EmalogError: emalog stopped. A pin emalog cannot take (a step whose raw weights the
                policy already left out) is an `EmalogWarning` on a later call; the run goes on.
                With `raw_every`, emalog holds the bytes of the latest step (and of the last
                `raw_keep_last`) until the next: pin a step right after logging it.
        """
        self._check_usable()
        if step is None:
            if self._last_step is None:
                raise ValueError("pin(): no step logged yet; give step=")
            step = self._last_step
        if not name or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            raise ValueError(f"pin(): {name!r} cannot name a pin: 1 to 200 characters without control characters")
        self._put([b"P", f"{int(step)} {name}\n".encode()])

    def metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Logs metrics for any step (an eval that comes late)."""
        self._check_usable()
        self._put([b"M", _frame.metrics_line(step, metrics)])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """`metrics(step, metrics)` in MLflow's order (`mlflow.log_metrics(metrics, step=...)`)."""
        self.metrics(step, metrics)

    def close(self) -> Optional[str]:
        """Waits until every step sent has committed.

        Returns:
            emalog's summary ("ingest: added 30 steps, ..."), also kept in `summary`.

        Raises:
            EmalogError: emalog refused something or failed (what it committed stays).
        """
        if self._closed:
            return self.summary
        self._closed = True
        if self._writer is not None:
            while self._failure is None and self._writer.is_alive():
                try:
                    self._queue.put(_CLOSE, timeout=0.5)
                    break
                except queue.Full:
                    continue
            self._writer.join()
        else:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        status = self._process.wait()
        if self._capture is not None:
            self._capture.close()
            self._ring.close()
        if self._spool:
            shutil.rmtree(self._spool, ignore_errors=True)  # what emalog refused or never reached
            os.close(self._spool_lock)
        self._stderr_reader.join()
        notes = [note for note in read_stderr(bytes(self._stderr)).notes if note.startswith("ingest: ")]
        self.summary = notes[-1] if notes else None
        self._raise_warnings(stacklevel=3)
        if self._refusal is not None:
            raise EmalogError(self._refusal + f"; emalog stored the steps before it ({self.summary or 'nothing'})",
                              status, "bad_input")
        if status != 0:
            raise error_from(bytes(self._stderr), status, "emalog ingest", in_python_words)
        if self._failure is not None:
            raise EmalogError(f"emalog ingest stopped reading before every step was sent ({self._failure}): the steps it "
                              f"committed are in the log, the rest are not; {self.summary or ''}".rstrip("; "), status)
        return self.summary

    def __enter__(self) -> "Logger":
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is None:
            self.close()
        else:
            try:
                self.close()  # what was sent still commits
            except EmalogError:
                pass  # the exception already in flight says more
        return False
