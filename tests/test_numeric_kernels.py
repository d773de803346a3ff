"""The pinned demo partitions do not depend on the CPU: the numeric library picks its kernels (and so
its summation order, hence a float's last digits) by the processor it finds. The three systems'
pinned-manifest tests run again with OpenBLAS forced to its generic SSE kernel; their bytes must
not move."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PINNED = [
    f"tests/{system}/test_demo_manifest.py::test_the_demo_writes_the_pinned_partitions"
    for system in ("kura_assets", "replay_assets", "minority_report_assets")
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenBLAS's kernel choice is set this way on Linux")
def test_the_pinned_partitions_are_the_same_with_another_cpu_kernel():
    env = {k: v for k, v in os.environ.items() if k != "WRITE_DEMO_MANIFESTS"}
    env.update(OPENBLAS_CORETYPE="Prescott")
    said = subprocess.run(
        [sys.executable, "-c", "import numpy"], env={**env, "OPENBLAS_VERBOSE": "2"}, capture_output=True, text=True
    ).stderr
    assert "Core: " in said and "Core not found" not in said, f"OpenBLAS did not take the forced kernel: {said}"
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PINNED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert f"{len(PINNED)} passed" in ran.stdout
