"""Shared helpers for bench/run: processes, clusters, timing, /proc readers.

Everything a case starts goes through a `Procs` registry, in a session (and so
a process group) of its own, so that a case that fails, an exception or a
Ctrl-C never leaves a broker, a worker or one of their children behind: the
registry kills what is left, and `Context` removes the temporary directories.

Timings are wall-clock seconds of one foreground command, from just before it
is started until it has been reaped (`run_timed`). The machine is shared and
noisy, so cases never compare numbers across runs of bench/run: every case
times its tool and its baselines side by side, interleaved repetition by
repetition (`interleave`), and reports medians and ratios.
"""

import dataclasses
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

# Seconds a process gets between SIGTERM and SIGKILL when we stop it.
KILL_GRACE_S = 5.0
# A worker or broker that has not registered within this long is broken, not slow.
REGISTER_TIMEOUT_S = 20.0


class BenchError(Exception):
    """A run failed (non-zero exit, timeout, a daemon died): reported, never timed."""


class CaseSkipped(Exception):
    """A case cannot run here (a program is missing): reported, not an error."""


# ---------------------------------------------------------------------------
# Numbers


def median(values):
    return statistics.median(values) if values else None


def spread(values):
    """(max - min) / median: how much the repetitions disagree; None below 2 runs."""
    if len(values) < 2:
        return None
    m = statistics.median(values)
    return (max(values) - min(values)) / m if m else None


def parse_size(text):
    """'1G', '16M', '64k' or plain bytes -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)i?[bB]?\s*", text)
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 1G, 16M, 4096)")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


# ---------------------------------------------------------------------------
# /proc readers (Linux only, like Drover)


def proc_status_kb(pid, field):
    """A `kB` field of /proc/PID/status (VmHWM, VmRSS, ...); None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def peak_rss_kb(pid):
    """Peak resident memory (VmHWM) of a live process, in KiB; None if gone."""
    return proc_status_kb(pid, "VmHWM")


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid, children=False):
    """utime+stime of a live process in seconds (with `children`: of the children
    it has reaped, cutime+cstime, instead); None if gone. Resolution is one
    clock tick (10 ms), so take differences over runs of a second or more."""
    fields = _proc_stat_fields(pid)
    if fields is None:
        return None
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / _CLK_TCK


def _start_time(pid):
    fields = _proc_stat_fields(pid)
    return None if fields is None else int(fields[19])


def descendants(pid):
    """(pid, start time) of every live descendant of `pid`. Workers put each step
    in a process group of its own, so killing a worker's group misses them;
    this snapshot, taken before the kill, finds them. The start time guards
    against killing an unrelated process that got a recycled pid."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat_fields(entry)
            if fields is not None:
                children.setdefault(int(fields[1]), []).append((int(entry), int(fields[19])))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child[0])
    return found


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# ---------------------------------------------------------------------------
# Network


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(port):
    """Whether something listens on TCP `port`, read from /proc/net/tcp rather than
    by connecting: a one-shot listener (socat without fork) would take a probe
    connection as its one client."""
    want = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(want) and parts[3] == "0A":  # 0A = LISTEN
                return True
    return False


def wait_until(predicate, timeout, what, check=None):
    """Polls `predicate` every 10 ms; BenchError after `timeout` seconds. `check`
    runs each turn too, to fail early (e.g. when the process we wait for died)."""
    deadline = time.monotonic() + timeout
    while True:
        if check:
            check()
        if predicate():
            return
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


# ---------------------------------------------------------------------------
# Processes


def tail(path, lines=8):
    """The last lines of a log file, for error messages."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()[-4000:]
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class Procs:
    """Every process the harness starts, each in a new session. `kill_all()` at
    the end (and on any error or Ctrl-C) stops whatever is still running."""

    def __init__(self):
        self._live = []

    def start(self, argv, cwd=None, stdout=None, stderr=None, stdin=subprocess.DEVNULL, env=None):
        """Starts `argv`; stdout/stderr are None (inherit), a path, or a file object."""
        def open_out(target):
            return open(target, "wb") if isinstance(target, str) else target
        out = open_out(stdout)
        err = out if isinstance(stderr, str) and stderr == stdout else open_out(stderr)
        try:
            p = subprocess.Popen(argv, cwd=cwd, stdin=stdin, stdout=out, stderr=err, env=env,
                                 start_new_session=True)
        except OSError as e:
            raise BenchError(f"cannot run {argv[0]}: {e}") from None
        finally:
            for target, f in {id(out): (stdout, out), id(err): (stderr, err)}.values():
                if isinstance(target, str):
                    f.close()
        self._live.append(p)
        return p

    def forget(self, p):
        if p in self._live:
            self._live.remove(p)

    def stop(self, p, sig=signal.SIGTERM, grace=KILL_GRACE_S):
        """Sends `sig` to `p` alone (so a daemon can shut down in order), SIGKILLs
        its group and every descendant still alive after `grace` seconds, and
        reaps it. Returns its exit code (-signal if killed by one)."""
        family = descendants(p.pid)
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the group outlives its leader
        except (ProcessLookupError, PermissionError):
            pass
        for pid, started in family:
            if _start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if p.returncode is None:
            p.wait()
        self.forget(p)
        return p.returncode

    def kill_all(self):
        """SIGKILL everything still registered, with descendants; no grace."""
        while self._live:
            self.stop(self._live[-1], sig=signal.SIGKILL, grace=1.0)


@dataclasses.dataclass
class Measurement:
    """One timed run: wall seconds, plus named extras (CPU seconds, peak RSS, ...)."""
    seconds: float
    extra: dict = dataclasses.field(default_factory=dict)


def wait_exit(procs, p, timeout, what):
    """Waits for `p` to exit and reaps it, returning its rusage (which counts
    the children it reaped too). After `timeout` seconds kills it and raises
    BenchError. A pidfd makes the timeout a plain poll: no thread, no sleep
    loop, so the moment of exit is seen at once."""
    pidfd = os.pidfd_open(p.pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if not ready:
            procs.stop(p, sig=signal.SIGKILL, grace=1.0)
            raise BenchError(f"{what} timed out after {timeout:g} s")
        _, status, usage = os.wait4(p.pid, 0)
    finally:
        os.close(pidfd)
    p.returncode = os.waitstatus_to_exitcode(status)  # so Popen never waits again
    return usage


def run_timed(procs, argv, timeout, cwd=None, stdout=subprocess.DEVNULL, stderr_path=None,
              stdin=subprocess.DEVNULL):
    """Runs `argv` to completion and times it, from just before the start until
    it is reaped. Raises BenchError on a non-zero exit or after `timeout`
    seconds (the whole group is killed then). The Measurement's extra
    `cpu_s` is the CPU time of the command and everything it reaped (from
    wait4's rusage). Not its peak RSS: ru_maxrss counts the memory of the
    forked Python before the exec."""
    err = stderr_path or subprocess.DEVNULL
    t0 = time.perf_counter()
    p = procs.start(argv, cwd=cwd, stdout=stdout, stderr=err, stdin=stdin)
    usage = wait_exit(procs, p, timeout, os.path.basename(argv[0]))
    seconds = time.perf_counter() - t0
    procs.stop(p, grace=0)  # leftovers in its group or below, if any
    if p.returncode != 0:
        detail = tail(stderr_path) if stderr_path else ""
        raise BenchError(f"{os.path.basename(argv[0])} exited with {p.returncode}"
                         + (f": {detail}" if detail else ""))
    return Measurement(seconds, {"cpu_s": usage.ru_utime + usage.ru_stime})


# ---------------------------------------------------------------------------
# Drover clusters


class Cluster:
    """A broker on a free loopback port and workers, in `directory`, with logs
    in it. Start it with `start()`; `submit()` times one job; `stop()` shuts
    it down (SIGTERM, as a service manager would) and reports trouble."""

    def __init__(self, ctx, directory, worker_slots, name="cluster", keys=None, broker_args=(),
                 worker_args=None):
        self.ctx = ctx
        self.broker_args = list(broker_args)  # more flags for the broker
        # More flags for each worker, by index (e.g. labels); None: none.
        self.worker_args = worker_args or [[] for _ in worker_slots]
        self.dir = directory
        self.worker_slots = list(worker_slots)  # --slots of each worker
        self.name = name
        # CURVE on (bench/run --curve): keys made here, broker --key-dir,
        # workers and submit with --key and --broker-key.
        self.keys = ctx.curve if keys is None else keys
        self.client_args = []  # what submit needs to reach the broker
        self.endpoint = None
        self.broker = None
        self.workers = []

    def _log(self, what):
        return os.path.join(self.dir, f"{what}.log")

    def start(self):
        try:
            self._start()
        except BaseException:
            self._kill()  # `with` calls no __exit__ when the start fails
            raise
        return self

    def _make_keys(self):
        """A key directory for the broker with one worker key and one user key
        on its lists; returns (broker args, worker args, submit args)."""
        key_dir = os.path.join(self.dir, "keys")
        os.makedirs(key_dir, mode=0o700, exist_ok=True)
        for base in (os.path.join(key_dir, "broker"), os.path.join(self.dir, "worker"),
                     os.path.join(self.dir, "user")):
            subprocess.run([self.ctx.bin("submit"), "keygen", base], check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for role, who in (("workers", "worker"), ("submitters", "user")):
            with open(os.path.join(self.dir, who + ".pub")) as pub, \
                    open(os.path.join(key_dir, role + ".allow"), "w") as allow:
                allow.write(pub.read())
        broker_pub = os.path.join(key_dir, "broker.pub")
        return (["--key-dir", key_dir],
                ["--key", os.path.join(self.dir, "worker.key"), "--broker-key", broker_pub],
                ["--key", os.path.join(self.dir, "user.key"), "--broker-key", broker_pub])

    def _start(self):
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        broker_args, worker_args = [], []
        if self.keys:
            broker_args, worker_args, self.client_args = self._make_keys()
        self.broker = self.ctx.procs.start(
            [self.ctx.bin("broker"), "--bind", self.endpoint,
             "--state-dir", os.path.join(self.dir, "state"), "--log-level", "warn"] + broker_args
            + self.broker_args,
            cwd=self.dir, stdout=self._log("broker"), stderr=self._log("broker"))
        for i, slots in enumerate(self.worker_slots):
            self.workers.append(self.ctx.procs.start(
                [self.ctx.bin("worker"), "--broker", self.endpoint, "--slots", str(slots),
                 "--name", f"{self.name}-w{i}", "--log-level", "warn",
                 "--state-dir", os.path.join(self.dir, "worker-state")] + worker_args
                + list(self.worker_args[i]),
                cwd=self.dir, stdout=self._log(f"worker{i}"), stderr=self._log(f"worker{i}")))
        self.wait_for_workers(len(self.workers))

    def _daemons(self):
        return [("broker", self.broker, self._log("broker"))] + [
            (f"worker {i}", w, self._log(f"worker{i}")) for i, w in enumerate(self.workers)]

    def check_alive(self):
        for what, p, log in self._daemons():
            if p.poll() is not None:
                raise BenchError(f"{what} exited with {p.returncode}: {tail(log)}")

    def worker_count(self):
        """The number on the first line of `submit status` ("N worker(s)")."""
        try:
            r = subprocess.run([self.ctx.bin("submit"), "status", "--broker", self.endpoint]
                               + self.client_args,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return -1
        m = re.match(r"(\d+) worker", r.stdout)
        return int(m.group(1)) if r.returncode == 0 and m else -1

    def wait_for_workers(self, n):
        wait_until(lambda: self.worker_count() == n, REGISTER_TIMEOUT_S,
                   f"{n} worker(s) to register with {self.name}", check=self.check_alive)

    def submit(self, job_path, stdout=subprocess.DEVNULL, args=()):
        """Times `submit JOB --broker ... ARGS` from start to exit (exit 0
        required). Extras: CPU seconds the broker and workers spent during the
        run (their own, and separately the steps the workers reaped) and
        submit's own."""
        self.check_alive()
        before = self._cpu()
        m = run_timed(self.ctx.procs,
                      [self.ctx.bin("submit"), job_path, "--broker", self.endpoint]
                      + self.client_args + list(args),
                      self.ctx.timeout, cwd=self.dir, stdout=stdout,
                      stderr_path=self._log("submit"))
        self.check_alive()
        after = self._cpu()
        m.extra = {"submit_cpu_s": m.extra["cpu_s"], **{k: after[k] - before[k] for k in before}}
        return m

    def _cpu(self):
        return {"broker_cpu_s": cpu_seconds(self.broker.pid),
                "workers_cpu_s": sum(cpu_seconds(w.pid) for w in self.workers),
                "steps_cpu_s": sum(cpu_seconds(w.pid, children=True) for w in self.workers)}

    def peak_rss_kb(self):
        """VmHWM of the broker and of each worker; read before `stop()`."""
        return {"broker": peak_rss_kb(self.broker.pid),
                "workers": [peak_rss_kb(w.pid) for w in self.workers]}

    def stop(self):
        """Stops the workers, then the broker, with SIGTERM. Raises BenchError if
        one had died or did not exit 0 (after everything is stopped)."""
        problems = []
        for what, p, log in reversed(self._daemons()):
            if p is None:
                continue
            was_running = p.poll() is None
            code = self.ctx.procs.stop(p)
            if not was_running or code != 0:
                problems.append(f"{what} {'had exited' if not was_running else 'exited'} "
                                f"with {code}: {tail(log, 3)}")
        self.broker, self.workers = None, []
        if problems:
            raise BenchError("; ".join(problems))

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if self.broker is None:
            return False
        if exc_type is None:
            self.stop()  # a clean stop is part of a passing case
        else:
            self._kill()
        return False

    def _kill(self):
        """Stops everything at once, after a failure: no checks, short grace."""
        for _, p, _ in reversed(self._daemons()):
            if p is not None:
                self.ctx.procs.stop(p, grace=1.0)
        self.broker, self.workers = None, []


def convert_job(ctx, job, directory, name):
    """Writes `job` (a dict) as NAME.json and, with `submit convert`, as
    NAME.msgpack, which is what the timed runs submit (no JSON parsing in
    the measurement). Returns the .msgpack path."""
    src = os.path.join(directory, name + ".json")
    dst = os.path.join(directory, name + ".msgpack")
    with open(src, "w") as f:
        json.dump(job, f)
    try:
        r = subprocess.run([ctx.bin("submit"), "convert", src, dst], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise BenchError(f"submit convert {name}.json timed out") from None
    if r.returncode != 0:
        raise BenchError(f"submit convert {name}.json failed ({r.returncode}): {r.stderr.strip()}")
    return dst


# ---------------------------------------------------------------------------
# Running a case


@dataclasses.dataclass
class Tool:
    """One contender in a case. `run(rep)` does one timed repetition (set-up it
    needs per repetition may happen inside, untimed). `setup` and `teardown`
    run once, before the first and after the last repetition (e.g. to start a
    warm cluster, or to check that the tool really does what is timed).
    `needs` are programs (paths, or names looked up on PATH): if one is
    missing the tool is skipped with a message, not failed."""
    name: str
    run: Callable[[int], Measurement]
    needs: tuple = ()
    setup: Optional[Callable[[], None]] = None
    teardown: Optional[Callable[[], None]] = None
    info: dict = dataclasses.field(default_factory=dict)  # e.g. {"steps": 2000}


@dataclasses.dataclass
class ToolResult:
    name: str
    info: dict
    runs: list = dataclasses.field(default_factory=list)  # Measurement per repetition
    error: Optional[str] = None
    skipped: Optional[str] = None

    @property
    def ok(self):
        return self.error is None and self.skipped is None and bool(self.runs)

    def seconds(self):
        return [m.seconds for m in self.runs]

    def median(self, key=None):
        """Median seconds, or the median of an extra."""
        if key is None:
            return median(self.seconds())
        return median([m.extra[key] for m in self.runs if m.extra.get(key) is not None])

    def max(self, key):
        values = [m.extra[key] for m in self.runs if m.extra.get(key) is not None]
        return max(values) if values else None

    def to_json(self):
        return {"tool": self.name, **self.info, "seconds": self.seconds(),
                "median_s": self.median(), "spread": spread(self.seconds()),
                "extra": [m.extra for m in self.runs], "error": self.error,
                "skipped": self.skipped}


def missing_program(prog):
    """None if `prog` can be run, else why not."""
    if "/" in prog:
        return None if os.access(prog, os.X_OK) else f"{prog} not found"
    return None if shutil.which(prog) else f"{prog} not on PATH"


def interleave(ctx, case, tools):
    """Runs each tool ctx.runs times, tools interleaved within each repetition
    and the starting tool rotated from one repetition to the next, so that
    drift on a shared machine (and the cost of going first) falls on all of
    them alike. A tool that fails once is reported as an error and not run
    again. Returns ToolResults in the order of `tools`."""
    results = {t.name: ToolResult(t.name, dict(t.info)) for t in tools}

    def fail(t, e):
        if not results[t.name].error:  # the first error is the cause; later ones follow from it
            results[t.name].error = str(e)
            ctx.log(f"{case}: {t.name}: ERROR {e}")

    active, set_up = [], []
    try:
        for t in tools:
            why = next(filter(None, map(missing_program, t.needs)), None)
            if why:
                results[t.name].skipped = why
                ctx.log(f"{case}: skipping {t.name}: {why}")
                continue
            set_up.append(t)
            try:
                if t.setup:
                    t.setup()
                active.append(t)
            except BenchError as e:
                fail(t, e)
        for rep in range(ctx.runs):
            shift = rep % len(active) if active else 0
            for t in active[shift:] + active[:shift]:
                if results[t.name].error:
                    continue
                try:
                    m = t.run(rep)
                except BenchError as e:
                    fail(t, e)
                    continue
                results[t.name].runs.append(m)
                ctx.log(f"{case} {rep + 1}/{ctx.runs}: {t.name:<16} {m.seconds:8.3f} s")
    finally:
        # On an exception (Ctrl-C) too: a teardown stops what its setup started.
        for t in set_up:
            if t.teardown:
                try:
                    t.teardown()
                except BenchError as e:
                    fail(t, e)
    return [results[t.name] for t in tools]


@dataclasses.dataclass
class CaseResult:
    """What a case returns: one table (the first column names the tool, the last
    holds notes), notes under it, and raw data for latest.json."""
    columns: list
    rows: list
    notes: list = dataclasses.field(default_factory=list)
    data: dict = dataclasses.field(default_factory=dict)
    errors: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_tools(cls, columns, results, cells, notes=(), data=None):
        """A table with one row per ToolResult: `cells(result)` gives the middle
        columns and a note for a tool that ran; skipped and failed tools get
        dashes and say why. Tool errors become the case's errors."""
        rows, errors = [], []
        for r in results:
            if r.ok:
                *middle, note = cells(r)
            else:
                middle = ["—"] * (len(columns) - 2)
                note = "ERROR (below)" if r.error else f"skipped: {r.skipped}"
                if r.error:
                    errors.append(f"{r.name}: {r.error}")
            rows.append([r.name, *middle, note])
        return cls(list(columns), rows, list(notes),
                   {"tools": [r.to_json() for r in results], **(data or {})}, errors)


def fmt(value, spec, unit=""):
    """Formats a number for a table cell; '—' for None."""
    return "—" if value is None else format(value, spec) + unit


def fmt_spread(result):
    s = spread(result.seconds())
    return "—" if s is None else f"{s * 100:.0f}%"


class Context:
    """What a case gets: where the programs are, sizes, repetitions, a process
    registry and fresh temporary directories (all removed by `close()`)."""

    def __init__(self, bin_dir, runs, smoke, params, timeout, curve=False):
        self.bin_dir = bin_dir
        self.curve = curve        # Drover clusters use keys (CURVE)
        self.runs = runs
        self.smoke = smoke
        self.params = params      # case sizes by name, e.g. params["spawn_count"]
        self.timeout = timeout    # seconds for one timed run
        self.procs = Procs()
        self._root = tempfile.mkdtemp(prefix="drover-bench-")

    def bin(self, name):
        """Path of a program built with Drover (bin dir), existing or not."""
        return os.path.join(self.bin_dir, name)

    def require(self, *programs):
        """Raises CaseSkipped if any program is missing."""
        for prog in programs:
            why = missing_program(prog)
            if why:
                raise CaseSkipped(why)

    def tmpdir(self, name):
        """A fresh, empty directory under this run's temporary root."""
        return tempfile.mkdtemp(prefix=name + "-", dir=self._root)

    @staticmethod
    def log(message):
        print(message, file=sys.stderr, flush=True)

    def close(self):
        self.procs.kill_all()
        shutil.rmtree(self._root, ignore_errors=True)
