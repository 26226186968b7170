"""pipe: a step's stdout into another's stdin, across two workers (stdin_from).

The producer runs on one worker and writes text lines; the consumer, on the
other, reads them through `stdin_from`. The bytes go pipe -> worker -> TCP
-> broker (spooled to disk whole) -> TCP -> worker -> pipe. In the "stored"
mode the consumer starts once the producer has succeeded, so the two legs
run one after the other; in the "streamed" mode (`"stream": true`) it starts
beside the producer and the two legs overlap, as a shell pipe. The baseline moves the same bytes once over TCP
loopback with socat, as the stream case does. Memory must stay bounded:
broker and workers under 64 MiB peak RSS however large the input.
"""

import os
import shutil

import benchlib
from benchlib import BenchError, Cluster, CaseResult, Tool, fmt, fmt_spread
from cases import Param, register
from cases.stream import LINE, generator, socat_transfer

RSS_TARGET_MIB = 64
TARGET_RATIO = {"stored": 0.5, "streamed": 0.7}


@register("pipe", "a step's stdout into another's stdin on another worker (stdin_from)", params=[
    Param("--pipe-bytes", 1 << 30, 16 << 20, "bytes the pipe case's producer writes (e.g. 1G)",
          size=True),
])
def pipe(ctx):
    size = ctx.params["pipe_bytes"]
    d = ctx.tmpdir("pipe")

    def drover_transfer(rep, job_path):
        directory = ctx.tmpdir(f"pipe-{rep}")
        try:
            with Cluster(ctx, directory, [1, 1], "pipe",
                         worker_args=[["--label", "produce"], ["--label", "consume"]]) as cluster:
                out = os.path.join(directory, "submit.out")
                m = cluster.submit(job_path, stdout=out, args=["--show", "count"])
                peaks = cluster.peak_rss_kb()
            with open(out) as f:
                counted = f.read().split()
            if not counted or counted[-1] != str(size):
                raise BenchError(f"pipe: the consumer counted {counted[-1:] or 'nothing'}, "
                                 f"not the {size} bytes written")
            m.extra["broker_peak_kb"] = peaks["broker"]
            m.extra["worker_peak_kb"] = max(peaks["workers"])
            return m
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # the spool holds a copy

    job = {}

    def drover_setup(mode):
        def setup():
            source = "produce" if mode == "stored" else {"step": "produce", "stream": True}
            job[mode] = benchlib.convert_job(ctx, {"name": "pipe", "steps": [
                {"id": "produce", "cmd": generator(size), "requires": ["produce"]},
                {"id": "count", "cmd": "wc -c", "stdin_from": source, "requires": ["consume"]},
            ]}, d, f"pipe-{mode}")
        return setup

    def drover_tool(mode):
        return Tool(f"drover {mode}", lambda rep: drover_transfer(rep, job[mode]),
                    needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit")),
                    setup=drover_setup(mode), info={"mode": mode})

    tools = [
        Tool("socat loopback",
             lambda rep: socat_transfer(ctx.procs, ctx.timeout, d, size, "OPEN:/dev/null"),
             needs=("socat",)),
        drover_tool("stored"),
        drover_tool("streamed"),
    ]
    results = benchlib.interleave(ctx, "pipe", tools)

    def mb_s(r):
        return size / 1e6 / r.median() if r.ok else None

    base = mb_s(results[0])

    def mib(kb):
        return None if kb is None else kb / 1024

    def cells(r):
        ratio = mb_s(r) / base if base and mb_s(r) else None
        broker, worker = mib(r.max("broker_peak_kb")), mib(r.max("worker_peak_kb"))
        if r is results[0]:
            note = "baseline"
        else:
            over = [n for n, v in (("broker", broker), ("worker", worker))
                    if v is not None and v >= RSS_TARGET_MIB]
            target = TARGET_RATIO[r.info["mode"]]
            note = (f"target >= {target}x socat: "
                    f"{'met' if ratio is not None and ratio >= target else 'MISSED'}; "
                    + (f"OVER {RSS_TARGET_MIB} MiB: {', '.join(over)}" if over
                       else f"RSS under {RSS_TARGET_MIB} MiB"))
        return [fmt(r.median(), ".2f"), fmt(mb_s(r), ".0f"), fmt(ratio, ".2f"),
                fmt(broker, ".1f"), fmt(worker, ".1f"), fmt_spread(r), note]

    return CaseResult.from_tools(
        ["tool", "median s", "MB/s", "ratio", "broker peak MiB", "worker peak MiB", "spread",
         "notes"], results, cells,
        notes=[f"{size} bytes of {len(LINE) + 1}-byte text lines, MB = 10^6 bytes; ratio = MB/s "
               f"÷ socat's; median of {ctx.runs} run(s)",
               "drover stored: a fresh broker + two one-slot workers per run; timed from "
               "`submit JOB --show count` start to exit: the producer (on one worker) "
               "runs to its end, then the consumer (`wc -c`, on the other) reads it all, streamed "
               "from the broker's spool; drover streamed: the same with `\"stream\": true`, "
               "the consumer reading while the producer writes",
               "socat: as in the stream case, one copy over TCP loopback",
               f"peak MiB: the largest VmHWM over the runs (worker: the larger of the two); "
               f"target < {RSS_TARGET_MIB} MiB"],
        data={"bytes": size})
