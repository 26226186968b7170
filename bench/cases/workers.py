"""workers: a thousand workers' worth of connections against one broker.
`loadgen` connects them (one slot each), idles (only heartbeats flow), then
runs short tasks through them all. It reports the broker's CPU while idle,
the longest gap between two broker heartbeats any worker saw (the broker
sends one a second), and how evenly the tasks were spread."""

import benchlib
from benchlib import CaseResult, Tool, fmt
from cases import Param, register
from cases.loadgen_runs import with_fresh_broker


@register("workers", "many simulated workers on one broker", params=[
    Param("--workers-count", 1000, 20, "simulated workers"),
    Param("--workers-steps", 100_000, 400, "tasks run through them"),
    Param("--workers-idle-seconds", 10, 1, "seconds of idling before the tasks"),
])
def workers(ctx):
    n, steps, idle = (ctx.params[k] for k in
                      ("workers_count", "workers_steps", "workers_idle_seconds"))
    d = ctx.tmpdir("workers")

    def run(rep):
        return with_fresh_broker(ctx, d, ["many-workers", "--workers", str(n), "--steps", str(steps),
                                          "--task-ms", "20", "--idle-seconds", str(idle)],
                                 "busy_seconds")

    results = benchlib.interleave(ctx, "workers", [
        Tool(f"{n} workers", run, needs=(ctx.bin("broker"), ctx.bin("loadgen")))])

    def cells(r):
        return [fmt(r.median("idle_broker_cpu_percent"), ".2f"),
                fmt(r.max("idle_max_heartbeat_gap_ms"), ".0f"),
                fmt(r.median("busy_steps_per_s"), ",.0f"),
                fmt(r.median("busy_broker_cpu_percent"), ".0f"),
                fmt(r.max("busy_max_heartbeat_gap_ms"), ".0f"),
                f"{r.median('tasks_per_worker_min'):.0f} / {r.median('tasks_per_worker_mean'):.0f}"
                f" / {r.median('tasks_per_worker_max'):.0f}",
                fmt(r.median("tasks_per_worker_stddev"), ".1f"),
                fmt(r.median("broker_peak_rss_kb") / 1024, ".0f"), ""]

    return CaseResult.from_tools(
        ["broker with", "idle cpu %", "idle max hb gap ms", "busy steps/s", "busy cpu %",
         "busy max hb gap ms", "tasks/worker min/mean/max", "stddev", "peak RSS MiB", "notes"],
        results, cells,
        notes=[f"{n} one-slot workers; {idle} s idle, then {steps:,} tasks of 20 ms each; "
               f"heartbeats are sent every 1000 ms, so a gap near 1000 ms is on time; "
               f"gaps are the largest over {ctx.runs} run(s), the rest medians"],
        data={"workers": n, "steps": steps})
