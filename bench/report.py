"""Output of bench/run: tables as plain text or markdown, machine information,
and the JSON record (bench/results/latest.json)."""

import json
import os
import platform
import re
import subprocess


def _render_text(columns, rows):
    widths = [max(len(str(row[i])) for row in [columns] + rows) for i in range(len(columns))]

    def line(cells):
        # Numbers right-aligned, text (the tool, the notes) left-aligned.
        out = []
        for i, cell in enumerate(cells):
            text = str(cell)
            numeric = 0 < i < len(cells) - 1
            out.append(text.rjust(widths[i]) if numeric else text.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return [line(columns), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _render_markdown(columns, rows):
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    align = ["---"] + ["---:"] * (len(columns) - 2) + ["---"]
    return [line(columns), "| " + " | ".join(align) + " |"] + [line(r) for r in rows]


def render_case(name, title, result, markdown):
    """One case as text: a heading, the table, the notes (and errors)."""
    if markdown:
        out = [f"### {name}: {title}", ""] + _render_markdown(result.columns, result.rows) + [""]
        out += [f"- {note}" for note in result.notes]
        out += [f"- **error**: {e}" for e in result.errors]
    else:
        out = [f"== {name}: {title}"] + _render_text(result.columns, result.rows)
        out += [f"  * {note}" for note in result.notes]
        out += [f"  ! error: {e}" for e in result.errors]
    return "\n".join(out) + "\n"


def render_skipped(name, title, reason, markdown):
    return (f"### {name}: {title}\n\nskipped: {reason}\n" if markdown
            else f"== {name}: {title}\n  skipped: {reason}\n")


def _first_line(argv, pattern=None):
    """The first line of a command's output (or the first matching `pattern`)."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (r.stdout + r.stderr).splitlines():
        if pattern is None or re.search(pattern, line):
            return line.strip()
    return None


def machine_info():
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_total_mib": mem_kb // 1024,
        "kernel": f"{platform.system()} {platform.release()} {platform.version()}",
        "python": platform.python_version(),
        "tools": {
            "make": _first_line(["make", "--version"]),
            "ninja": _first_line(["ninja", "--version"]),
            "parallel": _first_line(["parallel", "--will-cite", "--version"]),
            "socat": _first_line(["socat", "-V"], r"socat version"),
            "g++": _first_line(["g++", "--version"]),
            "cmake": _first_line(["cmake", "--version"]),
        },
    }


def git_info(repo):
    def git(*args):
        return _first_line(["git", "-C", repo, *args])
    status = subprocess.run(["git", "-C", repo, "status", "--porcelain"], capture_output=True,
                            text=True, stdin=subprocess.DEVNULL)
    return {"commit": git("rev-parse", "HEAD"),
            "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def write_json(path, record):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
