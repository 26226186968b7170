"""spawn: throughput of many independent short steps, two at a time.

Every tool runs N independent `/bin/true` with two in flight (the machine has
two cores), and the ratio divides its steps/s by the operating system's limit
for the same work: `spawn_limit`, which does nothing but posix_spawn and wait.
"""

import os
import subprocess

import benchlib
from benchlib import Cluster, CaseResult, Tool, fmt, fmt_spread, run_timed
from cases import Param, register
from cases import inputs

TRUE = "/bin/true"
PROBE_N = 20  # commands in the probe that checks make, ninja, xargs and parallel


@register("spawn", "independent /bin/true steps, 2 in flight", params=[
    Param("--spawn-count", 10000, 200, "independent steps in the spawn case"),
    Param("--parallel-count", 2000, 100,
          "steps GNU parallel runs in the spawn case (it is slow; its rate is compared)"),
])
def spawn(ctx):
    n = ctx.params["spawn_count"]
    n_parallel = min(n, ctx.params["parallel_count"])
    d = ctx.tmpdir("spawn")
    procs, timeout = ctx.procs, ctx.timeout

    def path(name):
        return os.path.join(d, name)

    def timed(argv, cwd=d, stdout=subprocess.DEVNULL):
        return run_timed(procs, argv, timeout, cwd=cwd, stdout=stdout,
                         stderr_path=path("stderr.log"))

    def probe(tool, run, times=1):
        """Runs a probe through `run(commands, log)` `times` over and checks it."""
        log = path(f"probe-{tool.split()[0]}.log")
        for _ in range(times):
            run(inputs.probe_commands(log, PROBE_N), log)
        inputs.check_probe(tool, log, PROBE_N, ordered=False, times=times)

    # --- os-limit: the baseline
    def run_os_limit(rep):
        out = path("spawn_limit.out")
        m = timed([ctx.bin("spawn_limit"), "--count", str(n), "--parallel", "2", "--", TRUE],
                  stdout=out)
        with open(out) as f:
            m.extra["self_reported_s"] = float(f.read().split()[0])
        return m

    # --- drover: warm clusters, started once; the job is converted once
    job = {}

    def drover_tool(name, worker_slots):
        cluster = Cluster(ctx, ctx.tmpdir(name.replace(" ", "-")), worker_slots, name)

        def setup():
            if "path" not in job:
                job["path"] = benchlib.convert_job(
                    ctx, inputs.drover_job("bench-spawn", [[TRUE]] * n), d, "spawn")
            cluster.start()
        return Tool(name, lambda rep: cluster.submit(job["path"]),
                    needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit")),
                    setup=setup, teardown=cluster.stop, info={"steps": n})

    # --- make: phony targets, so every run runs all
    def make_argv(makefile):
        return ["make", "-s", "-j2", "-f", makefile]

    def make_setup():
        def run(commands, log):
            inputs.write_makefile(path("probe.mk"), commands)
            timed(make_argv(path("probe.mk")))
        probe("make", run, times=2)
        inputs.write_makefile(path("Makefile.spawn"), [TRUE] * n)

    # --- ninja: outputs never created, and no .ninja_log kept between runs
    ninja_dir = os.path.join(d, "ninja")
    os.makedirs(ninja_dir)

    def ninja_run(directory):
        inputs.forget_ninja_state(directory)
        return timed(["ninja", "--quiet", "-j2"], cwd=directory)

    def ninja_setup():
        probe_dir = os.path.join(d, "ninja-probe")
        os.makedirs(probe_dir, exist_ok=True)

        def run(commands, log):
            inputs.write_ninja(os.path.join(probe_dir, "build.ninja"), commands)
            ninja_run(probe_dir)
        probe("ninja", run, times=2)
        inputs.write_ninja(os.path.join(ninja_dir, "build.ninja"), [TRUE] * n)

    # --- xargs and GNU parallel: one argument line per step
    def xargs_argv(args_file):
        return ["xargs", "-P2", "-n1", "-a", args_file, TRUE]

    def parallel_argv(args_file):
        return ["parallel", "--will-cite", "-j2", "-a", args_file, TRUE]

    def xargs_setup():
        def run(commands, log):
            inputs.write_lines(path("probe.args"), range(len(commands)))
            timed(["xargs", "-P2", "-n1", "-a", path("probe.args"),
                   "sh", "-c", f'echo "$0" >> {log}'])
        probe("xargs", run)
        inputs.write_lines(path("xargs.args"), ["x"] * n)

    def parallel_setup():
        def run(commands, log):
            inputs.write_lines(path("probe.args"), range(len(commands)))
            timed(["parallel", "--will-cite", "-j2", "-a", path("probe.args"),
                   f"echo {{}} >> {log}"])
        probe("parallel", run)
        inputs.write_lines(path("parallel.args"), ["x"] * n_parallel)

    tools = [
        Tool("os-limit", run_os_limit, needs=(ctx.bin("spawn_limit"),), info={"steps": n}),
        drover_tool("drover 1x2", [2]),
        drover_tool("drover 2x1", [1, 1]),
        Tool("make -j2", lambda rep: timed(make_argv(path("Makefile.spawn"))),
             needs=("make",), setup=make_setup, info={"steps": n}),
        Tool("ninja -j2", lambda rep: ninja_run(ninja_dir), needs=("ninja",),
             setup=ninja_setup, info={"steps": n}),
        Tool("xargs -P2", lambda rep: timed(xargs_argv(path("xargs.args"))), needs=("xargs",),
             setup=xargs_setup, info={"steps": n}),
        Tool("parallel -j2", lambda rep: timed(parallel_argv(path("parallel.args"))),
             needs=("parallel",), setup=parallel_setup, info={"steps": n_parallel}),
    ]
    results = benchlib.interleave(ctx, "spawn", tools)

    def rate(r):
        return r.info["steps"] / r.median() if r.ok else None

    base = rate(results[0])

    def cells(r):
        ratio = rate(r) / base if base else None
        return [str(r.info["steps"]), fmt(r.median(), ".3f"), fmt(rate(r), ".0f"),
                fmt(ratio, ".2f"), fmt_spread(r), note(r)]

    def note(r):
        if r.name == "os-limit":
            return "baseline: posix_spawn + wait, nothing else"
        if r.name.startswith("drover"):
            return (f"cpu/run: broker {fmt(r.median('broker_cpu_s'), '.2f')} s, "
                    f"worker {fmt(r.median('workers_cpu_s'), '.2f')} s, "
                    f"submit {fmt(r.median('submit_cpu_s'), '.2f')} s")
        if r.name.startswith("ninja"):
            return "each edge through /bin/sh -c"
        if r.name.startswith("parallel") and r.info["steps"] < n:
            return f"{r.info['steps']} steps only (--parallel-count); rate compared"
        return ""

    return CaseResult.from_tools(
        ["tool", "steps", "median s", "steps/s", "ratio", "spread", "notes"], results, cells,
        notes=[f"ratio = steps/s ÷ os-limit steps/s (1.00 = the OS limit for the same work; "
               f"higher is better); median of {ctx.runs} run(s), wall clock from start to exit",
               "drover AxB: a warm broker with A worker(s) of B slot(s), timed from "
               "`submit JOB.msgpack` start to exit; broker/worker cpu is what they used per run"],
        data={"steps": n, "parallel_steps": n_parallel})
