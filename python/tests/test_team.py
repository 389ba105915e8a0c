"""The team store from Python, against a throwaway PostgreSQL (scripts/postgres-throwaway.sh);
skipped when EMALOG_NO_POSTGRES=1."""
import os
import pathlib
import subprocess
import tempfile

import numpy as np
import pytest

import emalog

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.environ.get("EMALOG_NO_POSTGRES") == "1", reason="EMALOG_NO_POSTGRES=1")


@pytest.fixture(scope="module")
def server():
    # A folder the script makes (pytest's own are private to this user; the server may run as
    # `postgres`); the output through a file, since the server keeps a pipe open while it runs.
    folder = os.path.join(tempfile.gettempdir(), f"emalog-pytest-pg-{os.getpid()}")
    script = str(ROOT / "scripts" / "postgres-throwaway.sh")
    with tempfile.TemporaryFile(mode="w+") as out:
        done = subprocess.run([script, "start", folder], stdout=out, stderr=subprocess.STDOUT)
        out.seek(0)
        text = out.read()
    assert done.returncode == 0, text
    try:
        yield text.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def logged(path, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((8, 3)).astype(np.float32)
    with emalog.Logger(path, ema=["0.9"]) as log:
        for step in range(1, 21):
            w = w + np.float32(0.01) * rng.standard_normal(w.shape).astype(np.float32)
            log.step(step, {"w": w}, metrics={"loss": 1.0 / step})
    return path


def test_push_read_and_pull(server, tmp_path):
    a = logged(str(tmp_path / "a.emalog"), 1)
    b = logged(str(tmp_path / "b.emalog"), 2)
    first = emalog.push(a, server, run="a")
    assert (first["run"], first["steps"], first["up_to_date"]) == ("a", 20, False)
    again = emalog.push(a, server, run="a")
    assert (again["steps"], again["up_to_date"]) == (0, True)
    emalog.push(b, server, run="b")
    names = {r["name"]: r for r in emalog.runs(server)}
    assert names["a"]["steps"] == 20 and names["a"]["last_step"] == 20 and names["b"]["tracks"] == 1

    local = emalog.load_shadow(a, step=15, framework="numpy")
    remote = emalog.load_shadow(server, run="a", step=15, framework="numpy")
    assert local.keys() == remote.keys() and all(np.array_equal(local[k], remote[k]) for k in local)
    raw = emalog.load_raw(server, run="b", step=7, framework="numpy")
    assert np.array_equal(raw["w"], emalog.load_raw(b, step=7, framework="numpy")["w"])

    side = emalog.metrics(server, keys="loss", run=["a", "b"], as_pandas=False)
    assert list(side) == ["step", "a:loss", "b:loss"]

    copy = tmp_path / "copy.emalog"
    pulled = emalog.pull(server, "a", copy)
    assert (pulled["run"], pulled["steps"]) == ("a", 20)
    assert emalog.info(copy, digest=True)["content_sha256"] == emalog.info(server, run="a", digest=True)["content_sha256"]
    with pytest.raises(emalog.EmalogError) as missing:
        emalog.load_shadow(server, run="nope")
    assert missing.value.status == 66 and missing.value.kind == "not_found" and "its runs are a, b" in str(missing.value)
