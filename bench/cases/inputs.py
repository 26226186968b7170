"""Inputs the cases generate: Drover jobs, Makefiles, build.ninja files and
argument lists, all for "run these N commands, independently or as a chain".

Every generator takes the commands as a list, so that a case can write the
real input (N times /bin/true) and a small probe (commands that append their
index to a log) from the same code, and check with the probe that each tool
really runs every command, and in order for a chain, before timing it.
"""

import os

from benchlib import BenchError


def drover_job(name, commands, chain=False):
    """A job of one step per command (a list is argv, a string goes through
    /bin/sh -c); with `chain`, step i runs after step i-1."""
    steps = []
    for i, command in enumerate(commands):
        step = {"id": f"s{i}"}
        step["argv" if isinstance(command, list) else "cmd"] = command
        if chain and i > 0:
            step["after"] = [f"s{i - 1}"]
        steps.append(step)
    return {"name": name, "steps": steps}


def write_makefile(path, commands, chain=False):
    """Phony targets t0..tN-1, one command each (`@` keeps make quiet; make
    execs a command without shell metacharacters directly, no /bin/sh). All
    targets are phony, so every run runs every recipe. With `chain`, t_i
    depends on t_i-1."""
    n = len(commands)
    names = [f"t{i}" for i in range(n)]
    with open(path, "w") as f:
        goals = names[-1:] if chain else names
        f.write("all: " + " \\\n  ".join(goals) + "\n")
        f.write(".PHONY: all " + " \\\n  ".join(names) + "\n")
        for i, command in enumerate(commands):
            dep = f" t{i - 1}" if chain and i > 0 else ""
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
