"""Running `loadgen` against a fresh broker: shared by the broker-alone and
many-workers cases, which measure the broker itself (CPU from /proc, memory
from VmRSS/VmHWM) and so want a new broker for every repetition."""

import contextlib
import json
import os
import subprocess

import benchlib
from benchlib import BenchError, Measurement


def with_fresh_broker(ctx, directory, loadgen_args, seconds_key, broker_args=(), beside=None):
    """Starts a broker on a free port, runs `loadgen MODE ... --broker E
    --broker-pid P` against it, stops the broker, and returns a Measurement:
    `seconds` is the result's `seconds_key`, every field of loadgen's JSON is
    an extra. `broker_args`: more flags for the broker; `beside`: a context
    manager factory run around loadgen once the broker listens (the
    dashboard case polls its HTTP side there)."""
    run_dir = ctx.tmpdir("broker")
    endpoint = f"tcp://127.0.0.1:{benchlib.free_port()}"
    log = os.path.join(run_dir, "broker.log")
    broker = ctx.procs.start(
        [ctx.bin("broker"), "--bind", endpoint, "--state-dir", os.path.join(run_dir, "state"),
         "--log-level", "warn"] + list(broker_args), cwd=run_dir, stdout=log, stderr=log)
    try:
        port = int(endpoint.rsplit(":", 1)[1])
        benchlib.wait_until(lambda: benchlib.is_listening(port), 30, "the broker to listen",
                            check=lambda: _alive(broker, log))
        with (beside() if beside else contextlib.nullcontext()):
            result = run_loadgen(ctx, directory, loadgen_args + ["--broker", endpoint,
                                                                 "--broker-pid", str(broker.pid)])
        _alive(broker, log)
    finally:
        ctx.procs.stop(broker)
    return Measurement(result[seconds_key], result)


def run_loadgen(ctx, directory, args):
    """Runs loadgen to completion and returns its JSON result."""
    out = os.path.join(directory, "loadgen.out")
    err = os.path.join(directory, "loadgen.err")
    with open(out, "w") as stdout:
        benchlib.run_timed(ctx.procs, [ctx.bin("loadgen")] + args, ctx.timeout, cwd=directory,
                           stdout=stdout, stderr_path=err)
    with open(out) as f:
        try:
            return json.loads(f.read())
        except json.JSONDecodeError as e:
            raise BenchError(f"loadgen printed no result: {e}; {benchlib.tail(err)}") from None


def _alive(p, log):
    if p.poll() is not None:
        raise BenchError(f"broker exited with {p.returncode}: {benchlib.tail(log)}")
