"""chain: latency of a sequential chain of short steps.

Step i may start only when step i-1 has finished, so nothing overlaps and the
time per step is the tool's whole round trip: notice the exit, decide what is
ready, start it. The baseline is a plain spawn-and-wait loop; each tool's
cost is reported as milliseconds per step above it.
"""

import os
import subprocess

import benchlib
from benchlib import Cluster, CaseResult, Tool, fmt, fmt_spread, run_timed
from cases import Param, register
from cases import inputs

TRUE = "/bin/true"
PROBE_N = 20
DROVER_TARGET_MS = 0.15  # per step above raw spawn-and-wait


@register("chain", "a sequential chain of /bin/true steps", params=[
    Param("--chain-count", 2000, 100, "steps in the chain case"),
])
def chain(ctx):
    n = ctx.params["chain_count"]
    d = ctx.tmpdir("chain")
    procs, timeout = ctx.procs, ctx.timeout

    def path(name):
        return os.path.join(d, name)

    def timed(argv, cwd=d, stdout=subprocess.DEVNULL):
        return run_timed(procs, argv, timeout, cwd=cwd, stdout=stdout,
                         stderr_path=path("stderr.log"))

    def probe(tool, run):
        """Runs a chain of probe commands through `run(commands, log)` and checks
        they ran one after another, in order: a chain that a tool ran in
        parallel, or not at all, would time the wrong thing."""
        log = path(f"probe-{tool.split()[0]}.log")
        run(inputs.probe_commands(log, PROBE_N), log)
        inputs.check_probe(tool, log, PROBE_N, ordered=True)

    # --- raw: spawn, wait, spawn, ... with nothing else
    def run_raw(rep):
        return timed([ctx.bin("spawn_limit"), "--count", str(n), "--parallel", "1", "--", TRUE])

    # --- drover: a warm broker and one worker with 2 slots (only 1 can be used)
    cluster = Cluster(ctx, ctx.tmpdir("drover"), [2], "drover")
    job = {}

    def drover_setup():
        cluster.start()

        def run(commands, log):
            probe_job = benchlib.convert_job(
                ctx, inputs.drover_job("bench-chain-probe", commands, chain=True), d, "probe")
            cluster.submit(probe_job)
        probe("drover", run)
        job["path"] = benchlib.convert_job(
            ctx, inputs.drover_job("bench-chain", [[TRUE]] * n, chain=True), d, "chain")

    # --- ninja: edge i needs edge i-1's output (never created, so all rerun)
    ninja_dir = os.path.join(d, "ninja")
    os.makedirs(ninja_dir)

    def ninja_run(directory):
        inputs.forget_ninja_state(directory)
        return timed(["ninja", "--quiet", "-j2"], cwd=directory)

    def ninja_setup():
        probe_dir = os.path.join(d, "ninja-probe")
        os.makedirs(probe_dir)

        def run(commands, log):
            inputs.write_ninja(os.path.join(probe_dir, "build.ninja"), commands, chain=True)
            ninja_run(probe_dir)
        probe("ninja", run)
        inputs.write_ninja(os.path.join(ninja_dir, "build.ninja"), [TRUE] * n, chain=True)

    # --- make: phony target i depends on target i-1
    def make_argv(makefile):
        return ["make", "-s", "-j2", "-f", makefile]

    def make_setup():
        def run(commands, log):
            inputs.write_makefile(path("probe.mk"), commands, chain=True)
            timed(make_argv(path("probe.mk")))
        probe("make", run)
        inputs.write_makefile(path("Makefile.chain"), [TRUE] * n, chain=True)

    tools = [
        Tool("raw sequential", run_raw, needs=(ctx.bin("spawn_limit"),)),
        Tool("drover", lambda rep: cluster.submit(job["path"]),
             needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit")),
             setup=drover_setup, teardown=cluster.stop),
        Tool("ninja -j2", lambda rep: ninja_run(ninja_dir), needs=("ninja",), setup=ninja_setup),
        Tool("make -j2", lambda rep: timed(make_argv(path("Makefile.chain"))), needs=("make",),
             setup=make_setup),
    ]
    results = benchlib.interleave(ctx, "chain", tools)

    def ms_per_step(r):
        return r.median() / n * 1000 if r.ok else None

    raw = ms_per_step(results[0])

    def cells(r):
        over = ms_per_step(r) - raw if raw is not None else None
        return [str(n), fmt(r.median(), ".3f"), fmt(ms_per_step(r), ".3f"),
                fmt(over, "+.3f"), fmt_spread(r), note(r, over)]

    def note(r, over):
        if r is results[0]:
            return "baseline: spawn_limit --parallel 1"
        if r.name == "drover":
            # Smoke sizes are too small to amortize submit's start: no verdict there.
            verdict = "" if over is None or ctx.smoke else (
                " (met)" if over <= DROVER_TARGET_MS else " (MISSED)")
            return (f"target ≤ raw + {DROVER_TARGET_MS} ms{verdict}; cpu/run: broker "
                    f"{fmt(r.median('broker_cpu_s'), '.2f')} s, worker "
                    f"{fmt(r.median('workers_cpu_s'), '.2f')} s")
        if r.name.startswith("ninja"):
            return "each edge through /bin/sh -c"
        return ""

    return CaseResult.from_tools(
        ["tool", "steps", "median s", "ms/step", "vs raw ms/step", "spread", "notes"],
        results, cells,
        notes=[f"ms/step = median seconds ÷ steps; vs raw = ms/step minus raw's; median of "
               f"{ctx.runs} run(s); each tool's ordering checked with a {PROBE_N}-step probe",
               "drover: a warm broker with one worker (--slots 2), timed from `submit` start "
               "to exit"],
        data={"steps": n})
