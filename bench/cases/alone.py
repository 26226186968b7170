"""alone: the broker by itself. `loadgen` plays the workers, completing each
task the moment it arrives, so the broker's own cost is all that is timed:
every message still goes through the real protocol over loopback TCP.

Per graph: steps/s from the workers' connecting to the graph's end; the
broker's CPU per step over the same span; its RSS once the whole graph is
queued (no workers yet) minus its RSS before, per step; and its peak RSS
(which includes decoding the submitted graph)."""

import benchlib
from benchlib import CaseResult, Tool, fmt
from cases import Param, register
from cases.loadgen_runs import with_fresh_broker

TARGET_STEPS_PER_S = 200_000
TARGET_BYTES_PER_STEP = 512


@register("alone", "the broker alone, fed by simulated workers", params=[
    Param("--alone-steps", 1_000_000, 2000, "steps in the large broker-alone graphs"),
    Param("--alone-small-steps", 100_000, 500, "steps in the small broker-alone graph"),
])
def alone(ctx):
    big, small = ctx.params["alone_steps"], ctx.params["alone_small_steps"]
    d = ctx.tmpdir("alone")

    def tool(name, steps, shape):
        def run(rep):
            return with_fresh_broker(ctx, d, ["throughput", "--steps", str(steps), "--shape", shape,
                                              "--workers", "8", "--slots", "64"], "elapsed_s")
        return Tool(name, run, needs=(ctx.bin("broker"), ctx.bin("loadgen")),
                    info={"steps": steps, "shape": shape})

    tools = [tool(f"{small:,} independent", small, "independent"),
             tool(f"{big:,} independent", big, "independent"),
             tool(f"{big:,} chains+fan-ins", big, "mixed"),
             tool(f"{big:,} as one array", big, "array")]
    results = benchlib.interleave(ctx, "alone", tools)

    def cells(r):
        rate = r.median("steps_per_s")
        per_step = r.median("bytes_per_queued_step")
        verdict = ""
        if not ctx.smoke and r.info["steps"] >= 1_000_000:
            met = rate >= TARGET_STEPS_PER_S and per_step <= TARGET_BYTES_PER_STEP
            verdict = " (met)" if met else " (MISSED)"
        return [str(r.info["steps"]), fmt(r.median(), ".2f"), fmt(rate, ",.0f"),
                fmt(r.median("broker_cpu_us_per_step"), ".2f"), fmt(per_step, ".0f"),
                fmt(r.median("broker_peak_rss_kb") / 1024, ".0f"),
                fmt(r.median("accept_s"), ".2f"), verdict.strip()]

    return CaseResult.from_tools(
        ["graph", "steps", "median s", "steps/s", "broker cpu µs/step", "bytes/queued step",
         "peak RSS MiB", "accept s", "notes"], results, cells,
        notes=[f"targets at 1M steps: ≥ {TARGET_STEPS_PER_S:,} steps/s and ≤ "
               f"{TARGET_BYTES_PER_STEP} bytes of broker RSS per queued step; median of "
               f"{ctx.runs} run(s), a fresh broker each",
               "loadgen: 8 simulated workers of 64 slots answer every dispatch at once; "
               "chains+fan-ins: blocks of 20 (a chain of 10, 9 after it, 1 after those 9)",
               "as one array: the independent graph written as one step with `each` (a range), "
               "which the broker keeps as one template plus per-element state "
               "(docs/design/arrays-and-streams.md, increment 5)",
               "accept s: submission to JobAccepted (the broker decodes and validates the "
               "graph); peak RSS includes that decoding"],
        data={"steps": big, "small_steps": small})
