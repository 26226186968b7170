"""latency: one /bin/true step, submitted again and again to a warm broker
and worker, timed from SubmitJob to the JobEnded event at the client. The
baselines: spawning and reaping /bin/true directly; a bare ZeroMQ round trip
on loopback (Drover's path has two: client-broker and broker-worker); and
the floor of that path, zmq_relay: the same three processes and four hops
and one posix_spawn, with nothing of Drover in them. What Drover itself adds
is its distance from the floor."""

import benchlib
from benchlib import Cluster, CaseResult, Measurement, Tool, fmt
from cases import Param, register
from cases.loadgen_runs import run_loadgen

TARGET_MS = 0.3  # median above raw spawn-and-wait


@register("latency", "one step, submit to result, on a warm broker and worker", params=[
    Param("--latency-count", 200, 20, "jobs per latency run"),
])
def latency(ctx):
    n = ctx.params["latency_count"]
    d = ctx.tmpdir("latency")
    # loadgen speaks the protocol without keys, so this cluster has none.
    cluster = Cluster(ctx, ctx.tmpdir("drover"), [2], "latency", keys=False)

    def lines(argv):
        """Runs a tool that prints its median and p99 in microseconds."""
        with open(d + "/out", "w") as out:
            benchlib.run_timed(ctx.procs, argv, ctx.timeout, cwd=d, stdout=out)
        with open(d + "/out") as f:
            median_us, p99_us = (float(x) for x in f.read().split())
        return Measurement(median_us / 1e6, {"median_ms": median_us / 1000, "p99_ms": p99_us / 1000})

    def drover(rep):
        r = run_loadgen(ctx, d, ["latency", "--broker", cluster.endpoint, "--count", str(n)])
        return Measurement(r["median_ms"] / 1000, {"median_ms": r["median_ms"], "p99_ms": r["p99_ms"]})

    tools = [
        Tool("raw spawn+wait", lambda rep: lines(
            [ctx.bin("spawn_limit"), "--count", str(n), "--latency", "--", "/bin/true"]),
            needs=(ctx.bin("spawn_limit"),)),
        Tool("zeromq round trip", lambda rep: lines(
            [ctx.bin("zmq_pingpong"), "--count", str(max(n, 1000))]),
            needs=(ctx.bin("zmq_pingpong"),)),
        Tool("floor: zeromq relay + spawn", lambda rep: lines(
            [ctx.bin("zmq_relay"), "--count", str(n), "--", "/bin/true"]),
            needs=(ctx.bin("zmq_relay"),)),
        Tool("drover", drover, needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("loadgen")),
             setup=cluster.start, teardown=cluster.stop),
    ]
    results = benchlib.interleave(ctx, "latency", tools)
    raw = results[0].median("median_ms") if results[0].ok else None

    floor = results[2].median("median_ms") if results[2].ok else None

    def cells(r):
        over = r.median("median_ms") - raw if raw is not None and r.ok else None
        note = ""
        if r.name == "drover" and over is not None:
            rtt = results[1].median("median_ms") if results[1].ok else None
            note = f"target ≤ raw + {TARGET_MS} ms" + (
                "" if ctx.smoke else (" (met)" if over <= TARGET_MS else " (MISSED)"))
            if rtt is not None:
                note += f"; two ZeroMQ round trips alone: {2 * rtt:.3f} ms"
            if floor is not None:
                note += f"; {r.median('median_ms') - floor:+.3f} ms above the floor"
        if r.name.startswith("floor") and over is not None:
            note = "the same path with nothing of Drover in it: no target below this is reachable"
        shows_over = r.name == "drover" or r.name.startswith("floor")
        return [fmt(r.median("median_ms"), ".3f"), fmt(r.median("p99_ms"), ".3f"),
                fmt(over, "+.3f") if shows_over else "", note]

    return CaseResult.from_tools(
        ["tool", "median ms", "p99 ms", "vs raw median", "notes"], results, cells,
        notes=[f"{n} jobs (or round trips) per run; the median of each run's median and p99 "
               f"over {ctx.runs} run(s)",
               "drover: loadgen submits a one-step graph and waits for its JobEnded event, "
               "then the next; a warm broker and one worker (--slots 2) on loopback TCP",
               "floor: zmq_relay, client -> relay -> spawner (posix_spawn, waitpid) -> relay -> "
               "client, three processes on loopback TCP: Drover's four hops and one spawn "
               "with no decoding, no bookkeeping, no disk"],
        data={"count": n})
