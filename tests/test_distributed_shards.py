"""The generic sharded runner on a real local Dask cluster of 2 worker processes.

Shard functions here write rows of a zarr array (each shard owns whole chunks), log every
attempt to a file, and one of them kills its worker process midway once; the array must still
come out complete and identical, each shard must finish exactly once, and a re-run must resume.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import zarr

pytest.importorskip("distributed")

from _dask_cluster import client  # noqa: E402,F401  (the shared 2-worker cluster)

from rnnscope.distributed import shards as sh  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402

# Worker processes cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

N_ROWS, WIDTH, CHUNK = 100, 3, 10


def expected_rows(start: int, stop: int) -> np.ndarray:
    r = np.arange(start, stop, dtype=np.float32)[:, None]
    return r * 10.0 + np.arange(WIDTH, dtype=np.float32)


def write_rows(shard: sh.Shard, array_url: str, log: str, kill_flag: str | None = None,
               fail_on: str | None = None) -> dict:
    """Write this shard's rows; optionally die (once) or fail halfway through."""
    start, stop = shard.payload
    with open(log, "a") as fh:
        fh.write(f"start {shard.name} {os.getpid()}\n")
    arr = zarr.open_array(array_url, mode="r+")
    half = (start + stop) // 2
    arr[start:half] = expected_rows(start, half)
    if kill_flag is not None:
        try:  # the first process to create the flag dies; later attempts go on
            os.close(os.open(kill_flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            os._exit(1)
        except FileExistsError:
            pass
    if fail_on == shard.name:
        raise RnnscopeError(f"planted failure in {shard.name}")
    arr[half:stop] = expected_rows(half, stop)
    with open(log, "a") as fh:
        fh.write(f"end {shard.name} {os.getpid()}\n")
    return {"sum": np.asarray([expected_rows(start, stop).sum()])}


def make_array(tmp_path: Path) -> str:
    url = str(tmp_path / "rows.zarr")
    zarr.create_array(url, shape=(N_ROWS, WIDTH), chunks=(CHUNK, WIDTH), dtype="float32",
                      fill_value=np.nan)
    return url


def attempts(log: Path) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for line in log.read_text().splitlines():
        what, name, _ = line.split()
        counts.setdefault(name, {"start": 0, "end": 0})[what] += 1
    return counts


def test_row_shards_align_to_chunks():
    shards = sh.row_shards(95, rows_per_shard=25, align=10)
    assert [s.payload for s in shards] == [(0, 20), (20, 40), (40, 60), (60, 80), (80, 95)]
    assert sum(s.size for s in shards) == 95 and len({s.name for s in shards}) == 5


def test_runner_writes_everything_and_reports_per_worker(client, tmp_path):
    url, log = make_array(tmp_path), tmp_path / "log"
    shards = sh.row_shards(N_ROWS, 20, align=CHUNK)
    run = sh.run_sharded(write_rows, shards, client=client, ledger=tmp_path / "ledger",
                         args=(url, str(log)), unit="rows", progress=False)
    np.testing.assert_array_equal(zarr.open_array(url)[:], expected_rows(0, N_ROWS))
    assert [r.result["sum"][0] for r in run.reports] == [expected_rows(*s.payload).sum() for s in shards]
    table = run.table
    assert table["shards"].sum() == len(shards) and table["rows"].sum() == N_ROWS
    assert set(table["worker"]) <= set(client.scheduler_info()["workers"])
    assert "rows/s overall" in run.summary()
    assert all(c == {"start": 1, "end": 1} for c in attempts(log).values())


def test_killed_worker_shard_is_rerun_and_result_identical(client, tmp_path):
    url, log, flag = make_array(tmp_path), tmp_path / "log", tmp_path / "killed"
    shards = sh.row_shards(N_ROWS, 10, align=CHUNK)
    run = sh.run_sharded(write_rows, shards, client=client, ledger=tmp_path / "ledger",
                         args=(url, str(log), str(flag)), progress=False)
    assert flag.exists()  # a worker really died
    np.testing.assert_array_equal(zarr.open_array(url)[:], expected_rows(0, N_ROWS))
    counts = attempts(log)
    assert all(c["end"] == 1 for c in counts.values())  # each shard completed exactly once
    assert sum(c["start"] for c in counts.values()) == len(shards) + 1  # one shard re-run
    assert len(run.reports) == len(shards) and not any(r.resumed for r in run.reports)


def test_failed_job_resumes_from_completed_shards(client, tmp_path):
    url, log, ledger = make_array(tmp_path), tmp_path / "log", tmp_path / "ledger"
    shards = sh.row_shards(N_ROWS, 20, align=CHUNK)
    bad = shards[-1].name
    with pytest.raises(RnnscopeError, match="planted failure"):
        sh.run_sharded(write_rows, shards, client=client, ledger=ledger,
                       args=(url, str(log)), kwargs={"fail_on": bad}, progress=False)
    finished = sh.ShardLedger(ledger).done()
    assert bad not in finished
    run = sh.run_sharded(write_rows, shards, client=client, ledger=ledger,
                         args=(url, str(log)), progress=False)
    np.testing.assert_array_equal(zarr.open_array(url)[:], expected_rows(0, N_ROWS))
    counts = attempts(log)
    assert all(counts[n]["end"] == 1 for n in finished)  # never redone
    assert {r.name for r in run.reports if r.resumed} == finished
    assert [r.result["sum"][0] for r in run.reports] == [expected_rows(*s.payload).sum() for s in shards]


def cached_load(shard: sh.Shard, tag: str) -> int:
    sh.worker_cached(("thing", tag), lambda: object())
    return sh.LOADS[("thing", tag)]


def test_worker_cache_builds_once_per_worker(client, tmp_path):
    shards = [sh.Shard(f"s{i}", i) for i in range(8)]
    run = sh.run_sharded(cached_load, shards, client=client, args=(tmp_path.name,), progress=False)
    assert run.results == [1] * 8
    loads = client.run(lambda: dict(sh.LOADS))
    assert sum(v.get(("thing", tmp_path.name), 0) for v in loads.values()) <= len(loads)


def test_ledger_round_trips_results_without_pickle(tmp_path):
    import pandas as pd

    ledger = sh.ShardLedger(f"file://{tmp_path}/ledger")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for name, result in [("f", frame), ("n", {"x": np.arange(3)}), ("j", {"k": 1.5}), ("z", None)]:
        ledger.mark(sh.ShardReport(name, "w", 2, 0.1, result))
    assert ledger.done() == {"f", "n", "j", "z"}
    pd.testing.assert_frame_equal(ledger.load("f").result, frame)
    np.testing.assert_array_equal(ledger.load("n").result["x"], np.arange(3))
    assert ledger.load("j").result == {"k": 1.5} and ledger.load("z").result is None
    assert not list(Path(tmp_path, "ledger").glob("*.tmp"))


def test_job_fingerprints_tell_jobs_apart():
    from conftest import tiny_model

    a, b = tiny_model(seed=0), tiny_model(seed=1)
    assert sh.fingerprint(a, [1, 2], "h") == sh.fingerprint(tiny_model(seed=0), [1, 2], "h")
    assert len({sh.fingerprint(a, [1, 2], "h"), sh.fingerprint(b, [1, 2], "h"),
                sh.fingerprint(a, [1, 3], "h"), sh.fingerprint(a, [1, 2], "c"),
                sh.fingerprint(a, np.arange(3), "h"), sh.fingerprint(a, np.arange(3.0), "h")}) == 6


def test_single_machine_use_never_imports_dask():
    code = ("import sys, rnnscope.cli, rnnscope.distributed.cluster, rnnscope.distributed.shards; "
            "bad = [m for m in ('dask', 'distributed') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_gives_install_hint(monkeypatch):
    from rnnscope.distributed import cluster

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(RnnscopeError, match=r"pip install 'rnnscope\[distributed\]'"):
        with cluster.connect(workers=2):
            pass
    with pytest.raises(RnnscopeError, match="not both"):
        cluster.check_options("tcp://x:1", 2)
