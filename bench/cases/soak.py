"""soak: thousands of small jobs, one after another, on one broker.

A broker a team leaves running for months must keep its memory and its
state directory flat: every job it forgets (`broker --forget-after`) gives
back what the job took. This case submits the same small job (3 steps, a
little output, one step reading another's stdout) again and again, each
`submit` waiting for its job's end, and samples the broker's RSS and the
size of its state directory as it goes. The baseline is the same run on a
broker that keeps every job (`--forget-after 0`): there both grow with the
number of jobs. Both brokers snapshot their journal every MiB
(`--snapshot-mb 1`), so that the journal's sawtooth is small beside the
sizes compared; its height is that flag's.

Reported per broker: the median submit-to-result time of the first and the
last hundred jobs, and the broker's RSS and state-dir size averaged over the
second quarter of the run (after the first few hundred jobs, once the first
ones are being forgotten) and over the last quarter, with the growth from
one to the other (target: under 5 % with retention, and job times
unchanged).
"""

import os
import statistics
import subprocess
import time

import benchlib
from benchlib import BenchError, CaseResult, Cluster, Measurement, Tool, fmt
from cases import Param, register

TARGET_GROWTH = 0.05
SAMPLES = 150  # over a run, whatever its number of jobs


def job(directory):
    """make prints a few lines; upper reads them with stdin_from; count runs
    beside."""
    return {"name": "soak", "steps": [
        {"id": "make", "cmd": "seq 1 20 | sed 's/^/line /'"},
        {"id": "upper", "cmd": "tr a-z A-Z", "stdin_from": "make", "after": ["make"]},
        {"id": "count", "cmd": "echo counted"},
    ]}


def dir_bytes(path):
    """Bytes the files under `path` take on disk."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass  # forgotten while we looked
    return total


def quarter_mean(samples, q):
    """Mean of the samples in quarter q (0-3) of the run, by job number."""
    n = len(samples)
    part = samples[n * q // 4:max(n * (q + 1) // 4, n * q // 4 + 1)]
    return statistics.mean(part) if part else None


@register("soak", "thousands of small jobs on one broker: memory and disk stay flat", params=[
    Param("--soak-jobs", 3000, 40, "jobs the soak case submits one after another, per broker"),
    Param("--soak-forget-s", 20, 1, "the soak broker's --forget-after, in seconds"),
])
def soak(ctx):
    jobs, forget_s = ctx.params["soak_jobs"], ctx.params["soak_forget_s"]
    every = max(1, jobs // SAMPLES)
    d = ctx.tmpdir("soak")
    job_path = {}

    def setup():
        job_path["path"] = benchlib.convert_job(ctx, job(d), d, "soak")

    def run(forget_after):
        def one(rep):
            directory = ctx.tmpdir(f"soak-{forget_after}-{rep}")
            with Cluster(ctx, directory, [2, 2], "soak",
                         broker_args=["--forget-after", forget_after,
                                      "--snapshot-mb", "1"]) as cluster:
                state = os.path.join(directory, "state")
                times, rss, disk = [], [], []
                t0 = time.perf_counter()
                for i in range(jobs):
                    m = cluster.submit(job_path["path"])
                    times.append(m.seconds)
                    if i % every == every - 1:
                        rss.append(benchlib.proc_status_kb(cluster.broker.pid, "VmRSS") * 1024)
                        disk.append(dir_bytes(state))
                seconds = time.perf_counter() - t0
            if len(rss) < 4:
                raise BenchError(f"too few samples ({len(rss)}): give --soak-jobs >= 4")
            return Measurement(seconds, {"job_s": times, "rss": rss, "disk": disk})
        return one

    tools = [
        Tool(f"forget after {forget_s}s", run(f"{forget_s}s"),
             needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit")), setup=setup),
        Tool("keep forever", run("0"),
             needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit")), setup=setup),
    ]
    results = benchlib.interleave(ctx, "soak", tools)

    def summary(r):
        m = r.runs[-1]  # one run is the case's unit; the last if several
        first = statistics.median(m.extra["job_s"][:100]) * 1000
        last = statistics.median(m.extra["job_s"][-100:]) * 1000
        rss = [quarter_mean(m.extra["rss"], q) for q in (1, 3)]
        disk = [quarter_mean(m.extra["disk"], q) for q in (1, 3)]
        return first, last, rss, disk

    def growth(pair):
        return pair[1] / pair[0] - 1 if pair[0] else None

    def pct(g):
        return fmt(None if g is None else g * 100, "+.1f", " %")

    def cells(r):
        first, last, rss, disk = summary(r)
        g_rss, g_disk = growth(rss), growth(disk)
        mib = lambda b: b / (1 << 20)  # noqa: E731
        if r is results[0]:
            flat = all(g is not None and g < TARGET_GROWTH for g in (g_rss, g_disk))
            verdict = (f"{'flat' if flat else 'GROWS'}: target < {TARGET_GROWTH:.0%} growth; "
                       f"job time last/first {last / first:.2f}")
        else:
            verdict = f"baseline; job time last/first {last / first:.2f}"
        return [str(len(r.runs[-1].extra["job_s"])), fmt(first, ".1f"), fmt(last, ".1f"),
                f"{mib(rss[0]):.1f} → {mib(rss[1]):.1f}", pct(g_rss),
                f"{mib(disk[0]):.2f} → {mib(disk[1]):.2f}", pct(g_disk),
                verdict]

    return CaseResult.from_tools(
        ["broker", "jobs", "first 100 ms", "last 100 ms", "RSS MiB Q2 → Q4", "RSS growth",
         "state MiB Q2 → Q4", "state growth", "notes"], results, cells,
        notes=[f"{jobs} jobs of 3 steps (20 lines of output, one step reading another's with "
               f"stdin_from), submitted one after another with `submit JOB` (each waits for its "
               f"job's end) to a broker with 2 workers of 2 slots, --snapshot-mb 1",
               "ms = median submit-to-result time (start of `submit` to its exit) of the first "
               "and the last 100 jobs",
               f"RSS (VmRSS) and state dir (bytes on disk under --state-dir) sampled every "
               f"{every} job(s); Q2 → Q4 = the mean over the second quarter of the run → "
               f"over the last quarter; growth = Q4 / Q2 − 1"],
        data={"jobs": jobs, "forget_s": forget_s})
