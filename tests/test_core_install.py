"""The core install (``pip install .``, no extra) runs the compiler and the ``ref`` and
``virtual`` targets: ``make check-core-install`` in a fresh venv (slow tier: it installs
from PyPI)."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_core_install_runs_compiler_ref_and_virtual():
    out = subprocess.run(["make", "check-core-install", f"PYTHON={sys.executable}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=1800, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "core install: compiler, ref and virtual OK" in out.stdout
