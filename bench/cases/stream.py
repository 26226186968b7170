"""stream: one step writing a lot of text to stdout, followed live.

Drover carries a step's output from its pipe, through the worker and the
broker (which keeps it in the job's spool on disk), to `submit`. The baseline
moves the same bytes once over TCP loopback with socat. Besides throughput
this case checks memory: output must not pile up in the broker or the worker
(their peak RSS should stay under 64 MiB however much a step prints).
"""

import os
import shutil
import subprocess
import time

import benchlib
from benchlib import (BenchError, Cluster, CaseResult, Measurement, Tool, fmt, fmt_spread,
                      free_port, is_listening, run_timed, wait_exit, wait_until)
from cases import Param, register

LINE = ("0123456789" * 10)[:99]  # `yes` adds the newline: 100-byte lines of text
PROBE_BYTES = 1 << 20            # a size not a multiple of 100: the last line is partial
RSS_TARGET_MIB = 64


def generator(size):
    """The shell pipeline that writes `size` bytes of LINE lines to stdout."""
    return f"yes {LINE} | head -c {size}"


def socat_transfer(procs, timeout, d, size, sink_address):
    """generator | socat -> TCP loopback -> socat -> sink. Seconds from starting
    the sender until the sink has read EOF and exited, so every byte has
    crossed (the sender alone may exit with the last bytes still in socket
    buffers)."""
    def path(name):
        return os.path.join(d, name)

    port = free_port()
    sink = procs.start(["socat", "-u", f"TCP-LISTEN:{port},reuseaddr", sink_address],
                       cwd=d, stderr=path("sink.log"))
    try:
        def sink_alive():
            if sink.poll() is not None:
                raise BenchError(f"socat sink exited with {sink.returncode}: "
                                 f"{benchlib.tail(path('sink.log'))}")
        wait_until(lambda: is_listening(port), 10, "the socat sink to listen", check=sink_alive)
        t0 = time.perf_counter()
        sender = run_timed(procs, ["sh", "-c", f"{generator(size)} | socat -u STDIN "
                                   f"TCP:127.0.0.1:{port}"], timeout, cwd=d,
                           stderr_path=path("sender.log"))
        usage = wait_exit(procs, sink, timeout, "socat sink")
        seconds = time.perf_counter() - t0
        if sink.returncode != 0:
            raise BenchError(f"socat sink exited with {sink.returncode}: "
                             f"{benchlib.tail(path('sink.log'))}")
    finally:
        procs.stop(sink, grace=1.0)
    return Measurement(seconds, {"sender_cpu_s": sender.extra["cpu_s"],
                                 "sink_cpu_s": usage.ru_utime + usage.ru_stime})


@register("stream", "one step writing text lines to stdout, followed live", params=[
    Param("--stream-bytes", 1 << 30, 16 << 20, "bytes the stream case's step writes (e.g. 1G)",
          size=True),
])
def stream(ctx):
    size = ctx.params["stream_bytes"]
    d = ctx.tmpdir("stream")
    procs, timeout = ctx.procs, ctx.timeout

    def path(name):
        return os.path.join(d, name)

    def socat_setup():
        """Checks that the sink really receives every byte."""
        received = path("probe.out")
        socat_transfer(procs, timeout, d, PROBE_BYTES, f"CREATE:{received}")
        got = os.path.getsize(received)
        if got != PROBE_BYTES:
            raise BenchError(f"socat probe: sent {PROBE_BYTES} bytes, sink got {got}")

    # --- drover: a fresh broker and worker for each repetition, so each peak
    # RSS is that run's own
    def drover_transfer(rep, job_path, stdout=subprocess.DEVNULL):
        directory = ctx.tmpdir(f"drover-{rep}")
        try:
            with Cluster(ctx, directory, [2], "drover") as cluster:
                m = cluster.submit(job_path, stdout=stdout)
                peaks = cluster.peak_rss_kb()
            m.extra["broker_peak_kb"] = peaks["broker"]
            m.extra["worker_peak_kb"] = peaks["workers"][0]
            return m
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # the spool holds a copy of the output

    job = {}

    def drover_setup():
        """Converts the job, and checks with a small one that submit prints every
        byte the step wrote, each line once and whole."""
        def convert(name, size):
            return benchlib.convert_job(
                ctx, {"name": name, "steps": [{"id": "gen", "cmd": generator(size)}]}, d, name)
        received = path("probe.out")
        drover_transfer("probe", convert("stream-probe", PROBE_BYTES), stdout=received)
        with open(received) as f:
            lines = f.read().splitlines()
        body = ((LINE + "\n") * (PROBE_BYTES // 100 + 1))[:PROBE_BYTES]
        if (any(not line.startswith("[gen] ") for line in lines)
                or "\n".join(line[6:] for line in lines) != body.rstrip("\n")):
            raise BenchError(f"drover probe: submit's output is not the {PROBE_BYTES} bytes the "
                             f"step wrote ({len(lines)} lines)")
        job["path"] = convert("stream", size)

    tools = [
        Tool("socat loopback",
             lambda rep: socat_transfer(procs, timeout, d, size, "OPEN:/dev/null"),
             needs=("socat",), setup=socat_setup),
        Tool("drover", lambda rep: drover_transfer(rep, job["path"]),
             needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit")), setup=drover_setup),
    ]
    results = benchlib.interleave(ctx, "stream", tools)

    def mb_s(r):
        return size / 1e6 / r.median() if r.ok else None

    base = mb_s(results[0])

    def mib(kb):
        return None if kb is None else kb / 1024

    def cells(r):
        ratio = mb_s(r) / base if base else None
        broker, worker = mib(r.max("broker_peak_kb")), mib(r.max("worker_peak_kb"))
        return [fmt(r.median(), ".2f"), fmt(mb_s(r), ".0f"), fmt(ratio, ".2f"),
                fmt(broker, ".1f"), fmt(worker, ".1f"), fmt_spread(r), note(r, broker, worker)]

    def note(r, broker, worker):
        if r is results[0]:
            return (f"baseline; cpu/run: sender {fmt(r.median('sender_cpu_s'), '.2f')} s, "
                    f"sink {fmt(r.median('sink_cpu_s'), '.2f')} s")
        over = [name for name, v in (("broker", broker), ("worker", worker))
                if v is not None and v >= RSS_TARGET_MIB]
        verdict = f"OVER {RSS_TARGET_MIB} MiB: {', '.join(over)}" if over else \
            f"RSS under {RSS_TARGET_MIB} MiB"
        return (f"{verdict}; cpu/run: broker {fmt(r.median('broker_cpu_s'), '.2f')} s, worker "
                f"{fmt(r.median('workers_cpu_s'), '.2f')} s, submit "
                f"{fmt(r.median('submit_cpu_s'), '.2f')} s")

    return CaseResult.from_tools(
        ["tool", "median s", "MB/s", "ratio", "broker peak MiB", "worker peak MiB", "spread",
         "notes"], results, cells,
        notes=[f"{size} bytes of {len(LINE) + 1}-byte text lines from `yes 0123...678 | head -c "
               f"{size}`; "
               f"MB = 10^6 bytes; ratio = MB/s ÷ socat's; median of {ctx.runs} run(s)",
               "socat: timed from starting `generator | socat -u STDIN TCP:...` until the sink "
               "`socat -u TCP-LISTEN:... OPEN:/dev/null` has read EOF and exited",
               "drover: a fresh broker + one worker per run (started and stopped untimed); timed "
               "from `submit JOB --broker ...` start to exit, its stdout to /dev/null; the bytes "
               "go pipe → worker → TCP → broker (+ spool on disk) → TCP → submit",
               f"peak MiB = the largest VmHWM over the runs, read just before stopping; "
               f"target < {RSS_TARGET_MIB} MiB"],
        data={"bytes": size, "line_bytes": len(LINE) + 1})
