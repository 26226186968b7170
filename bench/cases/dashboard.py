"""dashboard: what an open dashboard costs scheduling (docs/dashboard.md).

The broker alone (loadgen, as in the `alone` case) and real spawning (one
worker of two slots, as in `spawn`), each with no HTTP side, and with
`--http` while a poller asks for what an open page and a Prometheus ask
for (/api/overview, the job being run, /metrics) ten times a second, ten
times what one page does. Steps/s with the poller divided by steps/s
without, side by side in one run: the target is that it stays near 1."""

import contextlib
import json
import threading
import time
import urllib.request

import benchlib
from benchlib import Cluster, CaseResult, Tool, fmt
from cases import Param, register
from cases import inputs
from cases.loadgen_runs import with_fresh_broker

POLL_INTERVAL_S = 0.1
TARGET_RATIO = 0.95


class Poller:
    """Polls the broker's HTTP side at `port` from a thread until stopped.
    Every answer must be a 200: a failure (once the first answer came)
    fails the run. Keeps the slowest answer's time."""

    def __init__(self, port):
        self.port = port
        self.answers = 0
        self.slowest_s = 0.0
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _get(self, path):
        start = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            body = r.read()
        self.slowest_s = max(self.slowest_s, time.monotonic() - start)
        self.answers += 1
        return body

    def _run(self):
        while not self._stop.is_set():
            try:
                overview = json.loads(self._get("/api/overview"))
                if overview["jobs"]:
                    self._get(f"/api/jobs/{overview['jobs'][0]['id']}")
                self._get("/metrics")
            except Exception as e:  # urllib raises for any status but 2xx
                if self.answers > 0:
                    self.failures.append(str(e))
            self._stop.wait(POLL_INTERVAL_S)

    def __enter__(self):
        benchlib.wait_until(lambda: benchlib.is_listening(self.port), 30, "the dashboard to listen")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.answers == 0:
            raise benchlib.BenchError("the dashboard never answered")
        if self.failures:
            raise benchlib.BenchError(f"the dashboard failed {len(self.failures)} request(s): "
                                      f"{self.failures[:3]}")


@register("dashboard", "scheduling with the dashboard open and polled 10x/s", params=[
    Param("--dashboard-alone-steps", 200_000, 2000, "steps the broker alone runs, per run"),
    Param("--dashboard-spawn-steps", 5000, 200, "/bin/true steps spawned, per run"),
])
def dashboard(ctx):
    alone_steps = ctx.params["dashboard_alone_steps"]
    spawn_steps = ctx.params["dashboard_spawn_steps"]
    d = ctx.tmpdir("dashboard")

    def alone_tool(polled):
        def run(rep):
            port = benchlib.free_port()
            poller = Poller(port)
            m = with_fresh_broker(
                ctx, d, ["throughput", "--steps", str(alone_steps), "--shape", "independent",
                         "--workers", "8", "--slots", "64"], "elapsed_s",
                broker_args=["--http", f"127.0.0.1:{port}"] if polled else [],
                beside=(lambda: poller) if polled else None)
            m.extra["slowest_answer_s"] = poller.slowest_s
            return m
        return Tool(f"alone{', polled' if polled else ''}", run,
                    needs=(ctx.bin("broker"), ctx.bin("loadgen")),
                    info={"steps": alone_steps, "kind": "alone", "polled": polled})

    job = {}

    def spawn_tool(polled):
        port = benchlib.free_port()
        name = f"spawn{'-polled' if polled else ''}"
        cluster = Cluster(ctx, ctx.tmpdir(name), [2], name,
                          broker_args=["--http", f"127.0.0.1:{port}"] if polled else [])
        poller = {}

        def setup():
            if "path" not in job:
                job["path"] = benchlib.convert_job(
                    ctx, inputs.drover_job("bench-dashboard", [["/bin/true"]] * spawn_steps), d,
                    "dashboard")
            cluster.start()
            if polled:
                poller["p"] = Poller(port).__enter__()

        def teardown():
            if "p" in poller:
                poller.pop("p").__exit__(None, None, None)
            cluster.stop()

        def run(rep):
            m = cluster.submit(job["path"])
            m.extra["slowest_answer_s"] = poller["p"].slowest_s if "p" in poller else 0.0
            return m

        return Tool(f"spawn 1x2{', polled' if polled else ''}", run,
                    needs=(ctx.bin("broker"), ctx.bin("worker"), ctx.bin("submit")),
                    setup=setup, teardown=teardown,
                    info={"steps": spawn_steps, "kind": "spawn", "polled": polled})

    tools = [alone_tool(False), alone_tool(True), spawn_tool(False), spawn_tool(True)]
    results = benchlib.interleave(ctx, "dashboard", tools)

    def rate(r):
        return r.info["steps"] / r.median() if r.ok else None

    base = {r.info["kind"]: rate(r) for r in results if not r.info["polled"]}

    def cells(r):
        steps_per_s = rate(r)
        ratio = steps_per_s / base[r.info["kind"]] if steps_per_s and base[r.info["kind"]] else None
        verdict = ""
        if r.info["polled"] and ratio is not None and not ctx.smoke:
            verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
        slowest = max(m.extra.get("slowest_answer_s", 0.0) for m in r.runs)
        return [str(r.info["steps"]), fmt(r.median(), ".2f"), fmt(steps_per_s, ",.0f"),
                fmt(ratio, ".3f") if r.info["polled"] else "1",
                fmt(slowest * 1000, ".0f") if r.info["polled"] else "-", verdict]

    return CaseResult.from_tools(
        ["run", "steps", "median s", "steps/s", "x unpolled", "slowest answer ms", "notes"],
        results, cells,
        notes=[f"polled: broker --http, and /api/overview, /api/jobs/ID and /metrics asked "
               f"every {POLL_INTERVAL_S:g} s (an open page asks once a second); target: "
               f"x unpolled >= {TARGET_RATIO} (on a noisy machine compare runs, not one figure)",
               f"median of {ctx.runs} run(s); alone: a fresh broker each run, loadgen as in "
               f"the alone case; spawn: one worker of 2 slots, warm"],
        data={"alone_steps": alone_steps, "spawn_steps": spawn_steps})
