"""The console script's own behaviour (not a subcommand's)."""

from __future__ import annotations

import subprocess
import sys

# a subcommand that prints more than a pipe holds, run through the real entry point
_BIG_OUTPUT = (
    "import engine.cli as cli\n"
    "def main(argv=None):\n"
    "    for _ in range(20000):\n"
    "        print('x' * 80)\n"
    "    return 0\n"
    "cli.main = main\n"
    "cli.entry()\n"
)


def test_reader_closing_the_pipe_gives_no_traceback():
    """``hotline calls | head -c 1``: the reader leaves early; no BrokenPipeError traceback."""
    cmd = f"'{sys.executable}' -c \"$SCRIPT\" | head -c 1"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60,
                          env={"SCRIPT": _BIG_OUTPUT, "PATH": "/usr/bin:/bin"})
    assert proc.stdout == "x"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
