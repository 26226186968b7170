"""makespan: how soon a graph of steps of unequal lengths is done on 6 slots.

Each input is a seeded random graph of `sleep` steps (20-600 ms, each after
0-3 earlier steps), run by Drover on 3 workers of 2 slots and by `make -j6`.
A sleeping step uses no CPU, so on this 2-core machine the time is not set by
the machine but by the order in which ready steps are started and how soon a
freed slot is filled: what a scheduler decides. Both are held against a lower
bound no schedule can beat, computed from the durations: the longer of the
critical path and the total work spread over the 6 slots. Several seeds,
because one graph may happen to suit one order.
"""

import dataclasses
import json
import math
import os
import random
import subprocess

import benchlib
from benchlib import BenchError, Cluster, CaseResult, Tool, fmt, run_timed, spread
from cases import Param, register
from cases import inputs

WORKER_SLOTS = [2, 2, 2]      # Drover's workers; make gets the same number of slots
SLOTS = sum(WORKER_SLOTS)
MIN_MS = 20                   # the shortest sleep; the longest is --makespan-max-ms
GRAIN_MS = 10                 # sleeps are multiples of this
MAX_AFTER = 3                 # each step runs after 0..MAX_AFTER earlier steps
PROBE_N = 20                  # steps in the probe graph that checks each tool's order
PROBE_SEED = 0                # the probe's graph (the timed seeds start at 1)
TARGET_VS_MAKE = 0.97         # Drover's time ÷ make's, on every seed
TARGET_VS_BOUND = 1.10        # Drover's time ÷ the lower bound, on every seed

# Drover runs each graph twice: as a user would without saying anything of
# the steps' lengths (all `sleep` steps share one command shape, so what the
# broker learns is their mean), and with each step's `duration` hint (its
# sleep, in seconds), which tells the scheduler what only the job's author
# can know. make is given no such thing.


@dataclasses.dataclass
class Graph:
    """One seed's input: each step's sleep and the earlier steps it runs after."""
    seed: int
    ms: list     # milliseconds step i sleeps
    after: list  # indices of the steps step i runs after (all smaller than i)

    def commands(self, as_list):
        """`sleep` commands, as argv lists (Drover) or strings (make)."""
        return [["sleep", f"{m / 1000:g}"] if as_list else f"sleep {m / 1000:g}" for m in self.ms]

    def critical_path_s(self):
        """The longest chain of sleeps through `after`: no schedule is shorter."""
        finish = []
        for m, deps in zip(self.ms, self.after):
            finish.append(m + max((finish[j] for j in deps), default=0))
        return max(finish) / 1000

    def work_per_slot_s(self):
        """All the sleeping spread evenly over the slots: no schedule is shorter."""
        return sum(self.ms) / 1000 / SLOTS

    def bound_s(self):
        return max(self.critical_path_s(), self.work_per_slot_s())


def random_graph(seed, steps, max_ms):
    """Step i sleeps a random multiple of GRAIN_MS in [MIN_MS, max_ms] and runs
    after 0..MAX_AFTER distinct steps chosen at random among 0..i-1, so the
    graph has no cycle. The same seed gives the same graph."""
    rng = random.Random(seed)
    ms, after = [], []
    for i in range(steps):
        ms.append(rng.randrange(MIN_MS, max_ms + 1, GRAIN_MS))
        after.append(sorted(rng.sample(range(i), rng.randint(0, min(MAX_AFTER, i)))))
    return Graph(seed, ms, after)


def placement(json_lines_path, workers, graph):
    """Where and when Drover ran the steps, from `submit --json`'s
    step_finished events (the workers' clocks, this machine's): steps per
    worker (`workers` are their names, so that one given none shows as 0),
    the span from the first start to the last end, the most steps running
    at once, and the mean cost of starting and reaping a `sleep` (its run
    time less its nominal sleep), which every tool pays and no order saves."""
    per_worker, edges, extra_ms = dict.fromkeys(workers, 0), [], []
    with open(json_lines_path) as f:
        for line in f:
            event = json.loads(line)
            if (event.get("event") == "step_finished" and event.get("worker") and
                    event.get("outcome") == "exited"):
                per_worker[event["worker"]] = per_worker.get(event["worker"], 0) + 1
                edges += [(event["started_ms"], 1), (event["ended_ms"], -1)]
                extra_ms.append(event["duration_ms"] - graph.ms[int(event["step"][1:])])
    if not edges:
        raise BenchError(f"submit --json reported no finished steps ({json_lines_path})")
    running = peak = 0
    for _, change in sorted(edges):  # at a tie an end (-1) sorts before a start
        running += change
        peak = max(peak, running)
    return {"steps_per_worker": dict(sorted(per_worker.items())),
            "span_s": (max(t for t, _ in edges) - min(t for t, _ in edges)) / 1000,
            "peak_running": peak,
            "spawn_ms": sum(extra_ms) / len(extra_ms)}


@register("makespan", "random graphs of sleeping steps on 6 slots, beside make -j6", params=[
    Param("--makespan-seeds", 4, 1, "random graphs in the makespan case (seeds 1..N)"),
    Param("--makespan-steps", 150, 20, "steps in each makespan graph"),
    Param("--makespan-max-ms", 600, 100,
          f"the longest sleep in the makespan case, ms (sleeps are {MIN_MS} ms to this, in "
          f"steps of {GRAIN_MS} ms)"),
])
def makespan(ctx):
    n = ctx.params["makespan_steps"]
    max_ms = ctx.params["makespan_max_ms"]
    if max_ms < MIN_MS:
        raise BenchError(f"--makespan-max-ms must be at least {MIN_MS}")
    graphs = [random_graph(seed, n, max_ms) for seed in range(1, ctx.params["makespan_seeds"] + 1)]
    probe_graph = random_graph(PROBE_SEED, PROBE_N, MIN_MS)
    d = ctx.tmpdir("makespan")
    procs, timeout = ctx.procs, ctx.timeout

    def path(name):
        return os.path.join(d, name)

    def timed(argv, cwd=d, stdout=subprocess.DEVNULL):
        return run_timed(procs, argv, timeout, cwd=cwd, stdout=stdout,
                         stderr_path=path("stderr.log"))

    # Each tool has one Tool per seed, but one warm cluster and one probe: the
    # first seed's setup does them, and the others repeat its outcome.
    done = {}

    def once(what, func):
        if what not in done:
            try:
                func()
                done[what] = None
            except BenchError as e:
                done[what] = str(e)
                raise
        elif done[what] is not None:
            raise BenchError(f"{what}: {done[what]}")

    probe_log = {name: path(f"probe-{name}.log") for name in ("drover", "make")}

    def probe_commands(tool):
        return inputs.probe_commands(probe_log[tool], PROBE_N)

    # --- drover: a warm broker with 3 workers of 2 slots; `submit --json`, so
    # that each run also says which worker ran what, and when
    cluster = Cluster(ctx, ctx.tmpdir("drover"), WORKER_SLOTS, "drover")
    jobs = {}

    def drover_start():
        cluster.start()
        probe_job = benchlib.convert_job(
            ctx, inputs.drover_job("bench-makespan-probe", probe_commands("drover"),
                                   after=probe_graph.after), d, "probe")
        cluster.submit(probe_job)
        inputs.check_graph_probe("drover", probe_log["drover"], probe_graph.after)

    def drover_setup(g, hints):
        once("drover", drover_start)
        name = f"makespan-s{g.seed}{'-hints' if hints else ''}"
        jobs[(g.seed, hints)] = benchlib.convert_job(
            ctx, inputs.drover_job(f"bench-{name}", g.commands(as_list=True), after=g.after,
                                   durations=[m / 1000 for m in g.ms] if hints else None),
            d, name)

    def drover_run(g, hints):
        out = path(f"drover-s{g.seed}{'-hints' if hints else ''}.jsonl")
        m = cluster.submit(jobs[(g.seed, hints)], stdout=out, args=["--json"])
        m.extra.update(placement(out, [f"{cluster.name}-w{i}" for i in range(len(WORKER_SLOTS))], g))
        m.extra["outside_steps_s"] = m.seconds - m.extra["span_s"]
        return m

    # --- make: phony targets (every run runs every recipe), t_i depending on
    # the targets of the steps it runs after; `all` on every target
    def make_argv(makefile):
        return ["make", "-s", f"-j{SLOTS}", "-f", makefile]

    def make_probe():
        inputs.write_makefile(path("probe.mk"), probe_commands("make"), after=probe_graph.after)
        for _ in range(2):
            timed(make_argv(path("probe.mk")))
        inputs.check_graph_probe("make", probe_log["make"], probe_graph.after, times=2)

    def make_setup(g):
        once("make", make_probe)
        inputs.write_makefile(path(f"Makefile.s{g.seed}"), g.commands(as_list=False),
                              after=g.after)

    drover_needs = (ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit"))
    tools = []
    # Seed by seed, so that in each repetition a seed's runs are neighbours
    # (but where the rotation of the starting tool splits them).
    for g in graphs:
        info = {"seed": g.seed, "steps": n}
        # Every drover Tool stops the cluster at the end: stopping a stopped one does nothing.
        for hints in (False, True):
            tools.append(Tool(f"drover{' hinted' if hints else ''} s{g.seed}",
                              lambda rep, g=g, h=hints: drover_run(g, h), needs=drover_needs,
                              setup=lambda g=g, h=hints: drover_setup(g, h),
                              teardown=cluster.stop, info=dict(info, hints=hints)))
        tools.append(Tool(f"make -j{SLOTS} s{g.seed}",
                          lambda rep, g=g: timed(make_argv(path(f"Makefile.s{g.seed}"))),
                          needs=("make",), setup=lambda g=g: make_setup(g), info=info))
    results = benchlib.interleave(ctx, "makespan", tools)

    rows, errors = [], []
    totals = {"drover": 0.0, "hinted": 0.0, "make": 0.0, "bound": 0.0}
    # (ratio, seed) for every seed with all three times
    worst = {"drover vs make": [], "hinted vs make": [], "drover vs bound": [],
             "hinted vs bound": []}
    complete = 0

    def verdict(ratio, target):
        if ratio is None or ctx.smoke:  # smoke sizes and sleeps are too short to judge
            return ""
        return " (met)" if ratio <= target else " (MISSED)"

    def ratio(a, b):
        return a / b if a and b else None

    for g, drover, hinted, make in zip(graphs, results[0::3], results[1::3], results[2::3]):
        bound = g.bound_s()
        t = {name: r.median() if r.ok else None
             for name, r in (("drover", drover), ("hinted", hinted), ("make", make))}
        binding = "path" if g.critical_path_s() >= g.work_per_slot_s() else f"work÷{SLOTS}"
        notes = [f"bound: {binding}"]
        for r in (drover, hinted, make):
            if r.error:
                errors.append(f"{r.name}: {r.error}")
                notes.append(f"{r.name}: ERROR (below)")
            elif r.skipped:
                notes.append(f"{r.name}: skipped: {r.skipped}")
        if drover.ok and hinted.ok:
            counts = [c for r in (drover, hinted) for m in r.runs
                      for c in m.extra["steps_per_worker"].values()]
            spawn_ms = drover.median("spawn_ms")
            # What no order can save: the bound plus each slot's share of the
            # time it takes to start and reap every `sleep`.
            floor = bound + n * spawn_ms / 1000 / SLOTS
            notes.append(
                f"drover: {min(counts)}-{max(counts)} steps per worker, at most "
                f"{max(drover.max('peak_running'), hinted.max('peak_running'))} running, "
                f"{fmt(drover.median('outside_steps_s') * 1000, '.0f')} ms outside the steps; "
                f"{spawn_ms:.1f} ms to start and reap a sleep, so no order beats "
                f"{floor / bound:.3f}× bound = {fmt(ratio(floor, t['make']), '.3f')}× make")
        if all(t.values()):
            complete += 1
            for name in ("drover", "hinted", "make"):
                totals[name] += t[name]
            totals["bound"] += bound
            for name in ("drover", "hinted"):
                worst[f"{name} vs make"].append((t[name] / t["make"], g.seed))
                worst[f"{name} vs bound"].append((t[name] / bound, g.seed))
            notes.append(
                f"drover ≤ {TARGET_VS_MAKE:.2f}× make"
                f"{verdict(t['drover'] / t['make'], TARGET_VS_MAKE)}, "
                f"≤ {TARGET_VS_BOUND:.2f}× bound{verdict(t['drover'] / bound, TARGET_VS_BOUND)}; "
                f"hinted ≤ {TARGET_VS_MAKE:.2f}× make"
                f"{verdict(t['hinted'] / t['make'], TARGET_VS_MAKE)}")
        spreads = "/".join(fmt(None if x is None else x * 100, ".0f", "%")
                           for x in (spread(drover.seconds()), spread(hinted.seconds()),
                                     spread(make.seconds())))
        rows.append([f"seed {g.seed}", str(n), fmt(g.critical_path_s(), ".2f"),
                     fmt(g.work_per_slot_s(), ".2f"), fmt(t["drover"], ".3f"),
                     fmt(t["hinted"], ".3f"), fmt(t["make"], ".3f"),
                     fmt(ratio(t["drover"], t["make"]), ".3f"),
                     fmt(ratio(t["hinted"], t["make"]), ".3f"),
                     fmt(ratio(t["drover"], bound), ".3f"), fmt(ratio(t["hinted"], bound), ".3f"),
                     fmt(ratio(t["make"], bound), ".3f"), spreads, "; ".join(notes)])

    if complete:
        summary = [f"ratios of the totals over {complete} of {len(graphs)} seed(s)"]
        for what, target in (("drover vs make", TARGET_VS_MAKE), ("hinted vs make", TARGET_VS_MAKE),
                             ("drover vs bound", TARGET_VS_BOUND),
                             ("hinted vs bound", TARGET_VS_BOUND)):
            worst_ratio, seed = max(worst[what])
            summary.append(f"worst {what} {worst_ratio:.3f} (seed {seed}), target "
                           f"≤ {target:.2f} on every seed{verdict(worst_ratio, target)}")
        for name in ("drover", "hinted"):
            geomean = math.exp(sum(math.log(r) for r, _ in worst[f"{name} vs make"]) / complete)
            summary.append(f"geometric mean of {name}/make {geomean:.3f}")
        rows.append(["all seeds", str(n * complete), "—", "—",
                     fmt(totals["drover"], ".3f"), fmt(totals["hinted"], ".3f"),
                     fmt(totals["make"], ".3f"),
                     fmt(totals["drover"] / totals["make"], ".3f"),
                     fmt(totals["hinted"] / totals["make"], ".3f"),
                     fmt(totals["drover"] / totals["bound"], ".3f"),
                     fmt(totals["hinted"] / totals["bound"], ".3f"),
                     fmt(totals["make"] / totals["bound"], ".3f"), "", "; ".join(summary)])

    return CaseResult(
        ["graph", "steps", "path s", f"work÷{SLOTS} s", "drover s", "hinted s",
         f"make -j{SLOTS} s", "drover/make", "hinted/make", "drover/bound", "hinted/bound",
         "make/bound", "spread d/h/m", "notes"],
        rows,
        [f"each graph: steps sleeping {MIN_MS}-{max_ms} ms (multiples of {GRAIN_MS}), each after "
         f"0-{MAX_AFTER} earlier steps at random; seeds 1..{len(graphs)}; median of {ctx.runs} "
         f"run(s), every seed's three runs interleaved with the others'",
         f"bound = max(path, work÷{SLOTS}): the critical path (the longest chain of sleeps) or "
         f"all the sleeping spread over {SLOTS} slots, whichever is longer; from the nominal "
         f"sleeps, so it leaves out starting and reaping each `sleep` (1-10 ms a step, by the "
         f"machine's load), which no scheduler saves",
         f"drover: a warm broker with {len(WORKER_SLOTS)} workers of {WORKER_SLOTS[0]} slots, "
         f"timed from `submit JOB.msgpack --json` start to exit; \"outside the steps\" is that "
         f"time minus the span from the first step's start to the last one's end (the workers' "
         f"clocks); hinted: the same job with each step's sleep as its `duration` hint",
         f"make -j{SLOTS}: phony targets, t_i depending on the targets of its after-steps, "
         f"recipe `sleep X` (exec'd without a shell); both tools' order checked with a "
         f"{PROBE_N}-step probe graph"],
        {"tools": [r.to_json() for r in results], "steps": n, "max_ms": max_ms,
         "graphs": [{"seed": g.seed, "critical_path_s": g.critical_path_s(),
                     "work_per_slot_s": g.work_per_slot_s(), "bound_s": g.bound_s(),
                     "ms": g.ms, "after": g.after} for g in graphs]},
        errors)
