"""The registry of benchmark cases.

A case is a function `case(ctx) -> benchlib.CaseResult`, registered with
`@register(...)` in a module of this package and listed in `_MODULES` below
(which sets the order `bench/run` runs them in). Its sizes are `Param`s:
each becomes a command-line flag of `bench/run`, with a default for real
runs and a tiny one for `--smoke`, and reaches the case as
`ctx.params[param.key]`.

To add a case: write bench/cases/NAME.py with one registered function (see
spawn.py for the pattern: build the inputs, list the tools, `interleave`,
turn the results into a table), and add NAME to `_MODULES`.
"""

import dataclasses
import importlib
from typing import Callable


@dataclasses.dataclass
class Param:
    flag: str      # e.g. "--spawn-count"
    default: int   # for a normal run
    smoke: int     # for --smoke: small enough that the whole suite takes seconds
    help: str
    size: bool = False  # a byte count: the flag accepts 16M, 1G

    @property
    def key(self):
        return self.flag.lstrip("-").replace("-", "_")


@dataclasses.dataclass
class Case:
    name: str
    title: str    # one line, printed above the table
    run: Callable
    params: tuple


CASES = {}  # name -> Case, in the order of _MODULES


def register(name, title, params=()):
    def add(func):
        CASES[name] = Case(name, title, func, tuple(params))
        return func
    return add


_MODULES = ["spawn", "chain", "makespan", "stream", "pipe", "alone", "latency", "workers", "soak", "dashboard"]
for _module in _MODULES:
    importlib.import_module(f"{__name__}.{_module}")
