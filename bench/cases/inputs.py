"""Inputs the cases generate: Drover jobs, Makefiles, build.ninja files and
argument lists, all for "run these N commands, independently, as a chain, or
as a graph" (`after[i]`: the indices of the commands command i runs after).

Every generator takes the commands as a list, so that a case can write the
real input (N times /bin/true) and a small probe (commands that append their
index to a log) from the same code, and check with the probe that each tool
really runs every command, and in order for a chain or a graph, before
timing it.
"""

import os

from benchlib import BenchError


def predecessors(n, chain=False, after=None):
    """The indices each of n commands runs after: `after` itself when given,
    else i-1 for a chain, else none."""
    if after is not None:
        if len(after) != n:
            raise ValueError(f"after has {len(after)} entries for {n} commands")
        return after
    return [[i - 1] if chain and i > 0 else [] for i in range(n)]


def drover_job(name, commands, chain=False, after=None, durations=None):
    """A job of one step per command (a list is argv, a string goes through
    /bin/sh -c); with `chain`, step i runs after step i-1; with `after`, step
    i runs after the steps after[i] lists. `durations` (seconds per step) adds
    each step's "duration" hint (docs/jobs.md)."""
    steps = []
    for i, (command, deps) in enumerate(zip(commands, predecessors(len(commands), chain, after))):
        step = {"id": f"s{i}"}
        step["argv" if isinstance(command, list) else "cmd"] = command
        if deps:
            step["after"] = [f"s{j}" for j in deps]
        if durations is not None:
            step["duration"] = durations[i]
        steps.append(step)
    return {"name": name, "steps": steps}


def write_makefile(path, commands, chain=False, after=None):
    """Phony targets t0..tN-1, one command each (`@` keeps make quiet; make
    execs a command without shell metacharacters directly, no /bin/sh). All
    targets are phony, so every run runs every recipe. With `chain`, t_i
    depends on t_i-1; with `after`, on the targets after[i] lists. `all`
    depends on every target (on the last alone for a chain)."""
    n = len(commands)
    names = [f"t{i}" for i in range(n)]
    with open(path, "w") as f:
        goals = names[-1:] if chain and after is None else names
        f.write("all: " + " \\\n  ".join(goals) + "\n")
        f.write(".PHONY: all " + " \\\n  ".join(names) + "\n")
        for i, (command, deps) in enumerate(zip(commands, predecessors(n, chain, after))):
            dep = "".join(f" t{j}" for j in deps)
            f.write(f"t{i}:{dep}\n\t@{command}\n")


def write_ninja(path, commands, chain=False):
    """Edges o0..oN-1 whose outputs are never created, so every run runs every
    edge (ninja runs each command through /bin/sh -c). With `chain`, edge i
    takes o_i-1 as input: it can only start when edge i-1 has finished."""
    same = len(set(commands)) == 1
    with open(path, "w") as f:
        f.write("rule run\n  command = " + (commands[0] if same else "$cmd") + "\n\n")
        for i, command in enumerate(commands):
            dep = f" o{i - 1}" if chain and i > 0 else ""
            f.write(f"build o{i}: run{dep}\n")
            if not same:
                f.write(f"  cmd = {command}\n")
        f.write("\nbuild all: phony " + " $\n    ".join(f"o{i}" for i in range(len(commands))))
        f.write("\ndefault all\n")


def forget_ninja_state(directory):
    """Removes .ninja_log and .ninja_deps, so the next run starts from nothing."""
    for name in (".ninja_log", ".ninja_deps"):
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass


def write_lines(path, lines):
    with open(path, "w") as f:
        f.writelines(f"{line}\n" for line in lines)


def probe_commands(log, n):
    """n shell commands, the i-th appending i to `log`."""
    return [f"echo {i} >> {log}" for i in range(n)]


def read_probe(log):
    """The indices a probe run appended, in the order they were appended."""
    try:
        with open(log) as f:
            return [int(line) for line in f]
    except FileNotFoundError:
        return []


def check_probe(tool, log, n, ordered, times=1):
    """Raises BenchError unless the probe log holds 0..n-1 `times` over (in that
    order when `ordered`): the tool runs every command once per run, and a
    chain as a chain."""
    got = read_probe(log)
    expected = list(range(n)) * times
    if (got if ordered else sorted(got)) != (expected if ordered else sorted(expected)):
        shown = got if len(got) <= 12 else got[:12] + ["..."]
        how = (" in order" if ordered else "") + (f" {times} times" if times > 1 else "")
        raise BenchError(f"{tool} does not run the probe as intended: expected 0..{n - 1}"
                         f"{how}, got {shown}")


def check_graph_probe(tool, log, after, times=1):
    """Raises BenchError unless the probe log holds 0..n-1 `times` over, each
    run's indices after those of the commands it runs after (after[i]): the
    tool runs every command once per run, and never one before its turn.
    Runs do not overlap, so run k is the k-th slice of n lines."""
    n = len(after)
    got = read_probe(log)
    runs = [got[k * n:(k + 1) * n] for k in range(times)]
    if len(got) != n * times or any(sorted(run) != list(range(n)) for run in runs):
        shown = got if len(got) <= 12 else got[:12] + ["..."]
        raise BenchError(f"{tool} does not run the probe graph as intended: expected 0..{n - 1}"
                         f"{f' {times} times' if times > 1 else ''}, got {shown}")
    for k, run in enumerate(runs):
        position = {index: p for p, index in enumerate(run)}
        for i in range(n):
            early = [j for j in after[i] if position[j] > position[i]]
            if early:
                raise BenchError(f"{tool} does not run the probe graph as intended: in run "
                                 f"{k + 1}, {i} ran before {early[0]}, which it runs after")
