"""The package as PyTorch users expect it: EMA profiles with timm's names, MLflow's argument
order, return types the caller can fix, errors with their kind, one version, type information."""
import importlib.metadata
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import emalog
from emalog import EMA


def test_profiles_are_the_spec_strings_emalog_takes():
    assert str(EMA(0.999)) == "0.999"
    assert str(EMA(decay=0.9998, warmup=True, form="lerp")) == \
        "decay=0.9998,schedule=warmup,gamma=1.0,power=0.6666666666666666,min=0.0,form=lerp"
    assert str(EMA(decay=0.999, warmup=True, warmup_gamma=2, warmup_power=0.75, min_decay=0.5, form="sub", name="d")) == \
        "name=d,decay=0.999,schedule=warmup,gamma=2.0,power=0.75,min=0.5,form=sub"
    assert str(EMA(decay=0.99, schedule="tf")) == "decay=0.99,schedule=tf"
    assert str(EMA(decay=0.9, per="step")) == "decay=0.9,per=step"
    assert str(EMA.power(sigma_rel=0.05, name="p05")) == "name=p05,schedule=power,sigma_rel=0.05"
    assert str(EMA.power(gamma=6.94)) == "schedule=power,gamma=6.94"
    for bad, words in [(dict(decay=0.9, update_after_step=10), "update_after_step"), (dict(decay=0.9, form="fused"), "form"),
                       (dict(), "needs a decay"), (dict(schedule="power"), "sigma_rel or gamma"),
                       (dict(decay=0.9, schedule="cosine"), "schedule")]:
        with pytest.raises(ValueError, match=words):
            EMA(**bad)
    with pytest.raises(TypeError, match="emalog.EMA"):
        emalog.load_shadow("x.emalog", ema=object())
    with pytest.raises(ValueError, match="no decay"):
        EMA(decay=0.9, schedule="power", sigma_rel=0.05)
    with pytest.raises(ValueError, match="has no ','"):
        EMA(0.9, name="a,b")


def test_a_profile_tracks_and_queries_like_its_spec(db):
    torch = pytest.importorskip("torch")
    timm_like = EMA(decay=0.95, warmup=True, form="lerp", name="timm")
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with emalog.Logger(db, ema=[timm_like, EMA(0.9)], snapshot_every=4) as log:
        for step in range(1, 11):
            loss = model(torch.randn(16, 8)).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            log.step(step, model)
            log.log_metrics({"loss": loss.item()}, step=step)  # MLflow's order
    tracks = {t["name"]: t["spec"] for t in emalog.info(db)["tracks"]}
    assert set(tracks) == {"timm", "ema-0.9"}
    assert "schedule=warmup" in tracks["timm"] and "form=lerp" in tracks["timm"]
    tracked = emalog.load_shadow(db, ema="timm", step=7)
    by_profile = emalog.load_shadow(db, ema=EMA(decay=0.95, warmup=True, form="lerp"), step=7)  # the same profile, unnamed
    post_hoc = emalog.load_shadow(db, ema="decay=0.95,schedule=warmup,form=lerp,min=0", step=7)
    for name in tracked:
        assert tracked[name].numpy().tobytes() == by_profile[name].numpy().tobytes() == post_hoc[name].numpy().tobytes()
    assert emalog.metrics(db, as_pandas=False)["step"] == list(range(1, 11))


def test_return_types_are_what_the_arguments_say(db):
    torch = pytest.importorskip("torch")
    with emalog.Logger(db, ema=0.9) as log:  # a number is a constant decay
        for step in range(1, 4):
            log.step(step, {"w": np.full(3, step, dtype=np.float32)}, metrics={"loss": 1.0 / step})
    assert isinstance(emalog.load_shadow(db)["w"], torch.Tensor)  # torch is installed: torch tensors
    assert isinstance(emalog.load_shadow(db, framework="torch")["w"], torch.Tensor)
    assert isinstance(emalog.load_shadow(db, framework="numpy")["w"], np.ndarray)
    assert isinstance(emalog.load_raw(db, step=2, framework="numpy")["w"], np.ndarray)
    columns = emalog.metrics(db, as_pandas=False)
    assert columns == {"step": [1, 2, 3], "loss": [1.0, 0.5, 1.0 / 3]}
    pandas = pytest.importorskip("pandas")
    for frame in (emalog.metrics(db), emalog.metrics(db, as_pandas=True)):
        assert isinstance(frame, pandas.DataFrame) and list(frame.index) == [1, 2, 3]


def test_a_missing_optional_package_is_a_clear_error(db, monkeypatch):
    with emalog.Logger(db, ema="0.9") as log:
        log.step(1, {"w": np.ones(2, dtype=np.float32)}, metrics={"loss": 0.5})
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    assert emalog.metrics(db) == {"step": [1], "loss": [0.5]}  # SPEC: a dict of columns without pandas
    with pytest.raises(emalog.EmalogError, match="as_pandas=False"):
        emalog.metrics(db, as_pandas=True)
    monkeypatch.setitem(sys.modules, "torch", None)
    assert isinstance(emalog.load_shadow(db)["w"], np.ndarray)  # SPEC: numpy without torch
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(emalog.EmalogError, match="framework='numpy'"):
        emalog.load_shadow(db, framework="torch")


def test_errors_carry_emalogs_exit_code_and_kind(tmp_path, db):
    with pytest.raises(emalog.EmalogError) as missing:
        emalog.load_shadow(tmp_path / "none.emalog")
    assert (missing.value.status, missing.value.kind) == (66, "not_found")
    assert str(missing.value).startswith("no log at ")
    with emalog.Logger(db, ema="0.9") as log:
        log.step(1, {"w": np.ones(2, dtype=np.float32)})
    with pytest.raises(emalog.EmalogError) as absent:
        emalog.load_shadow(db, step=99, framework="numpy")
    assert (absent.value.status, absent.value.kind) == (65, "bad_input")
    with pytest.raises(emalog.EmalogError) as usage:
        emalog.load_shadow(db, ema="decay=2", framework="numpy")
    assert (usage.value.status, usage.value.kind) == (64, "usage")


def test_one_version_and_type_information():
    binary = subprocess.run([emalog.binary(), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert emalog.__version__ == binary == importlib.metadata.version("emalog")
    assert os.path.isfile(os.path.join(os.path.dirname(emalog.__file__), "py.typed"))
    for name in emalog.__all__:
        value = getattr(emalog, name)
        if inspect.isfunction(value):
            assert value.__doc__ and value.__annotations__.get("return") is not None, name
    assert "Args:" in emalog.load_shadow.__doc__ and "Returns:" in emalog.load_shadow.__doc__


def test_pins_name_steps_for_every_reader(db):
    with emalog.Logger(db, ema="0.9") as log:
        for step in range(1, 6):
            log.step(step, {"w": np.full(3, step, dtype=np.float32)})
    assert emalog.pin(db, 3, "best")["step"] == 3
    assert [p["name"] for p in emalog.pins(db)] == ["best"]
    by_name = emalog.load_shadow(db, step="best", framework="numpy")["w"]
    assert by_name.tobytes() == emalog.load_shadow(db, step=3, framework="numpy")["w"].tobytes()
    assert emalog.load_raw(db, step="best", framework="numpy")["w"].tolist() == [3.0, 3.0, 3.0]
    with pytest.raises(emalog.EmalogError) as bad:
        emalog.pin(db, 3, "12")
    assert bad.value.kind == "usage"
    emalog.unpin(db, "best")
    assert emalog.pins(db) == []
    with pytest.raises(emalog.EmalogError) as gone:
        emalog.load_raw(db, step="best")
    assert (gone.value.status, gone.value.kind) == (65, "bad_input") and "no step is pinned as 'best'" in str(gone.value)


def test_resume_from_truncates_the_abandoned_continuation(db):
    def run(log, first, last, offset):
        for step in range(first, last + 1):
            log.step(step, {"w": np.full(4, step + offset, dtype=np.float32)}, metrics={"loss": float(step + offset)})

    with emalog.Logger(db, ema="0.9", snapshot_every=4) as log:
        run(log, 1, 12, 0)  # a first run that went to step 12
    # Training resumes from its checkpoint at step 6: steps 7-12 differ now (offset 100).
    with emalog.Logger(db, ema="0.9", snapshot_every=4, resume_from=6) as log:
        run(log, 7, 9, 100)
    assert emalog.info(db)["last_step"] == 9
    assert emalog.metrics(db, as_pandas=False)["loss"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 107.0, 108.0, 109.0]
    clean = db + ".clean.emalog"
    with emalog.Logger(clean, ema="0.9", snapshot_every=4) as log:
        run(log, 1, 6, 0)
        run(log, 7, 9, 100)
    a = emalog.load_shadow(db, framework="numpy")["w"]
    b = emalog.load_shadow(clean, framework="numpy")["w"]
    assert a.tobytes() == b.tobytes(), "the resumed log's EMA is the clean continuation's, bit for bit"


def test_raw_every_keeps_the_policys_steps_and_every_ema_exact(db):
    def run(path, **policy):
        with emalog.Logger(path, ema="0.9", **policy) as log:
            for step in range(0, 23):
                log.step(step, {"w": np.linspace(0, 1, 300, dtype=np.float32) * step + np.float32(step % 7)},
                         metrics={"loss": float(step)})

    full = db + ".full.emalog"
    run(full, snapshot_every=5)
    run(db, raw_every=5, raw_keep_last=3)
    info = emalog.info(db)
    assert info["retention"] == {"raw_every": 5, "raw_keep_last": 3}
    # The first step, multiples of 5 and the last 3 keep their raw weights; every step is recorded.
    assert info["steps"] == 23 and info["steps_with_raw"] == len({0, 5, 10, 15, 20, 21, 22})
    assert emalog.metrics(db, as_pandas=False)["loss"] == [float(s) for s in range(23)]
    for step in (5, 10, 20, 22):
        a = emalog.load_shadow(db, step=step, framework="numpy")["w"]
        b = emalog.load_shadow(full, step=step, framework="numpy")["w"]
        assert a.tobytes() == b.tobytes(), f"the tracked EMA at step {step} is the full log's, bit for bit"
    assert emalog.load_raw(db, step=21, framework="numpy")["w"].tobytes() == \
        emalog.load_raw(full, step=21, framework="numpy")["w"].tobytes()
    with pytest.raises(emalog.EmalogError) as refused:
        emalog.load_raw(db, step=7, framework="numpy")
    assert refused.value.status == 65 and "nearest before is 5" in str(refused.value) and "nearest after is 10" in str(refused.value)
    with pytest.raises(emalog.EmalogError) as refused:
        emalog.load_shadow(db, step=8, framework="numpy")
    assert refused.value.status == 65


def test_prune_reclaims_space_and_keeps_the_tracked_emas(db):
    with emalog.Logger(db, ema="0.9", snapshot_every=5) as log:
        for step in range(0, 41):
            log.step(step, {"w": np.random.default_rng(step).standard_normal(20000).astype(np.float32)})
    before = emalog.load_shadow(db, step=35, framework="numpy")["w"]
    raw30 = emalog.load_raw(db, step=30, framework="numpy")["w"]
    size = os.path.getsize(db)
    dry = emalog.prune(db, raw_every=10, raw_keep_last=2, dry_run=True)
    assert dry["dry_run"] and dry["steps_dropped"] == 41 - len({0, 10, 20, 30, 40, 39}) and os.path.getsize(db) == size
    assert emalog.info(db)["steps_with_raw"] == 41, "a dry run changes nothing"
    done = emalog.prune(db, raw_every=10, raw_keep_last=2)
    assert done["steps_dropped"] == dry["steps_dropped"] and done["reclaimed_bytes"] > 0
    assert os.path.getsize(db) < size * 0.4, "the file shrinks"
    assert emalog.load_shadow(db, step=35, framework="numpy")["w"].tobytes() == before.tobytes()
    assert emalog.load_raw(db, step=30, framework="numpy")["w"].tobytes() == raw30.tobytes()
    assert emalog.info(db)["retention"] == {"raw_every": 10, "raw_keep_last": 2}


def test_sigma_rel_is_replayed_where_it_can_be_and_synthesised_where_not(db):
    with emalog.Logger(db, ema=[EMA.power(sigma_rel=0.05), EMA.power(sigma_rel=0.10)], snapshot_every=5) as log:
        for step in range(1, 31):
            log.step(step, {"w": np.random.default_rng(step).standard_normal(500).astype(np.float32) * 0.01 + np.float32(step)})
    exact = emalog.load_shadow(db, sigma_rel=0.07, framework="numpy")["w"]
    with pytest.warns(emalog.EmalogWarning, match="synthesised from .* relative fit error"):
        made = emalog.load_shadow(db, sigma_rel=0.07, synthesize=True, framework="numpy")["w"]
    assert exact.tobytes() != made.tobytes()
    assert np.linalg.norm(exact - made) <= 0.01 * np.linalg.norm(exact)
    emalog.prune(db, raw_every=5)
    assert emalog.load_shadow(db, sigma_rel=0.07, framework="numpy")["w"].tobytes() == made.tobytes(), \
        "on a thinned log the synthesis answers"
    swept = emalog.sweep(db, sigma_rels=[0.07, 0.12], framework="numpy")
    assert sorted(swept) == ["sigma-rel-0.07-step-30", "sigma-rel-0.12-step-30"]
    assert swept["sigma-rel-0.07-step-30"]["w"].tobytes() == made.tobytes()


def test_a_step_pinned_by_the_logger_keeps_its_raw_weights(db):
    with emalog.Logger(db, ema="0.9", raw_every=10) as log:
        for step in range(1, 26):
            log.step(step, {"w": np.full(50, step, dtype=np.float32)})
            if step == 13:
                log.pin("best")  # the latest step
        log.pin("early", step=2)  # its raw weights are gone by now: a warning, the run goes on
        with pytest.warns(emalog.EmalogWarning, match="pin 'early' of step 2 not taken"):
            log.step(26, {"w": np.full(50, 26, dtype=np.float32)})
            log.close()
    assert [(p["name"], p["step"]) for p in emalog.pins(db)] == [("best", 13)]
    assert emalog.load_raw(db, step="best", framework="numpy")["w"][0] == 13
    with pytest.raises(emalog.EmalogError) as refused:
        emalog.load_raw(db, step=14, framework="numpy")
    assert refused.value.status == 65
    with emalog.Logger(db + ".other", ema="0.9") as other:
        with pytest.raises(ValueError):
            other.pin("best")  # no step logged yet
        other.step(1, {"w": np.zeros(3, dtype=np.float32)})
        with pytest.raises(ValueError):
            other.pin("two\nlines")
