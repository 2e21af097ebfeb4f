"""The benchmark script runs: each contender trains two steps per case and agrees with pure JAX.

`scripts/benchmarks/run.py --smoke` makes no timing claims; this only keeps the script working.
The Flax NNX and Equinox contenders need the `bench` extra and are skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "scripts" / "benchmarks" / "run.py"


def _load_run():
    spec = importlib.util.spec_from_file_location("axon_benchmarks_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


CASES = ("tiny", "mlp", "cnn", "transformer")


def _check(results: dict, contenders: set[str], case: str) -> None:
    out = results["cases"][case]
    assert out["status"] == "ok", case
    assert set(out["contenders"]) == contenders, case
    for key, c in out["contenders"].items():
        assert len(c["losses"]) == 2, (case, key)
        assert all(math.isfinite(v) for v in c["losses"]), (case, key, c["losses"])
        assert c["loss_ok"], (case, key, c["losses"], out["contenders"]["jax"]["losses"])
    # A step was taken: the second loss differs from the first.
    assert out["contenders"]["jax"]["losses"][0] != out["contenders"]["jax"]["losses"][1]


# One test per case, so that the cases' compiles spread over the test workers.
@pytest.mark.parametrize("case", CASES)
def test_smoke_axon_jax_torch(case, tmp_path, capsys):
    pytest.importorskip("torch")
    run = _load_run()
    assert set(run.CASES) == set(CASES)  # every case of the benchmark has its smoke test
    out = tmp_path / "bench.json"
    contenders = "jax,axon-eager,axon-jit,torch"
    results = run.main(["--smoke", "--cases", case, "--contenders", contenders, "--json", str(out)])
    _check(results, {"jax", "axon-eager", "axon-jit", "torch"}, case)
    assert "skipped" not in capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written["machine"]["jax"] and written["machine"]["cpu_count"]
    assert written["cases"][case]["contenders"]["axon-jit"]["loss_ok"]


@pytest.mark.parametrize("case", CASES)
def test_smoke_flax_equinox(case):
    pytest.importorskip("flax")
    pytest.importorskip("equinox")
    run = _load_run()
    results = run.main(["--smoke", "--cases", case, "--contenders", "flax,equinox"])
    _check(results, {"jax", "flax", "equinox"}, case)


def test_smoke_scan_compile():
    """`scan_compile.py --smoke` runs both step forms, unrolled and scanned, and they agree."""
    path = RUN.parent / "scan_compile.py"
    spec = importlib.util.spec_from_file_location("axon_benchmarks_scan_compile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--smoke"])
    assert set(results) == {("axon-jit", 2), ("jax", 2)}
    for r in results.values():
        assert r[False]["first"] > 0 and r[True]["first"] > 0
