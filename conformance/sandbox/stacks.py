"""Native thread stacks of a wedged child, captured with gdb in batch mode."""

from __future__ import annotations

import shutil
import subprocess

MAX_STACK_CHARS = 24_000


def capture_stacks(pid: int, timeout_s: float = 10.0) -> tuple[str | None, str]:
    """Return (stacks, tool). ``stacks`` is None with the reason in ``tool`` when gdb is missing."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return None, "none: gdb is not installed (apt-get install gdb)"
    command = [
        gdb,
        "-nx",
        "-batch",
        "-iex",
        "set auto-load off",
        "-iex",
        "set debuginfod enabled off",
        "-p",
        str(pid),
        "-ex",
        "thread apply all bt 32",
    ]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, errors="replace", check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"gdb: timed out after {timeout_s:.0f} s"
    lines = [line for line in completed.stdout.splitlines() if line.startswith(("Thread ", "#"))]
    if not lines:
        reason = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        return None, f"gdb: {reason[0]}"
    text = "\n".join(lines)
    if len(text) > MAX_STACK_CHARS:
        text = text[:MAX_STACK_CHARS] + "\n[... truncated]"
    return text, "gdb"
