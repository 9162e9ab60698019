"""Importing the library changes no global state (matplotlib backend, torch threads)."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_import_changes_no_global_state():
    code = textwrap.dedent("""
        import matplotlib, torch
        matplotlib.use("svg")
        threads = torch.get_num_threads()
        import rnnscope, rnnscope.analysis.probe, rnnscope.analysis.concepts, rnnscope.figures
        import rnnscope.agreement, rnnscope.analysis.memory, rnnscope.report
        assert matplotlib.get_backend().lower() == "svg", matplotlib.get_backend()
        assert torch.get_num_threads() == threads
        print("ok")
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_cli_import_loads_no_heavy_library():
    """``rnnscope --help`` and the start of every command stay quick: the CLI module loads
    neither PyTorch nor pandas/NumPy (each command imports what it uses when it runs)."""
    code = ("import sys, rnnscope.cli; "
            "print(sorted(m for m in ('torch', 'pandas', 'numpy', 'matplotlib', 'zarr') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
