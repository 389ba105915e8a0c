"""The Logger from a real training loop, against a reference EMA computed here, bit for bit."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import emalog
from conftest import kill_trainer_when_ready

torch = pytest.importorskip("torch")


def reference_ema(states, decay):
    """form=seed, schedule=constant: s1 = θ1; s = float32(1 - d) * θ + float32(d) * s, each
    product and the sum rounded in float32 (emalog's arithmetic, SPEC.md)."""
    c1, c2 = np.float32(1.0 - decay), np.float32(decay)
    shadow = None
    for state in states:
        if shadow is None:
            shadow = {k: v.astype(np.float32).copy() for k, v in state.items()}
        else:
            for k in shadow:
                a = c1 * state[k].astype(np.float32)
                b = c2 * shadow[k]
                shadow[k] = a + b
    return shadow


def train(log, steps, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    states = []
    for step in range(1, steps + 1):
        x = torch.randn(64, 16)
        loss = (model(x) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log.step(step, model, metrics={"loss": loss.item()})
        states.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    return model, states


def test_a_training_loop_logs_and_loads_back_bit_exact(db, tmp_path):
    with emalog.Logger(db, ema=["0.99", "name=w,decay=0.999,schedule=warmup,form=lerp"], snapshot_every=8) as log:
        spool = log._spool
        model, states = train(log, 30)
        log.metrics(30, {"eval/acc": 0.75})
    assert spool is None or not os.path.exists(spool), "the spool is emptied and removed"
    assert log.summary.startswith("ingest: added 30 steps")
    shadow = emalog.load_shadow(db, ema="ema-0.99")
    expected = reference_ema(states, 0.99)
    assert set(shadow) == set(expected)
    for name, value in expected.items():
        assert shadow[name].numpy().tobytes() == value.tobytes(), name
    # Ready for load_state_dict; an earlier step replays from a snapshot.
    model.load_state_dict(shadow)
    at_20 = emalog.load_shadow(db, step=20, ema="ema-0.99", framework="numpy")
    for name, value in reference_ema(states[:20], 0.99).items():
        assert at_20[name].tobytes() == value.tobytes(), name
    # Post hoc: a decay nobody tracked.
    post = emalog.load_shadow(db, decay=0.9)
    for name, value in reference_ema(states, 0.9).items():
        assert post[name].numpy().tobytes() == value.tobytes(), name
    raw = emalog.load_raw(db, step=7)
    for name, value in states[6].items():
        assert raw[name].numpy().tobytes() == value.tobytes(), name
    swept = emalog.sweep(db, [0.9, 0.99], step=30)
    assert sorted(swept) == ["ema-0.9-step-30", "ema-0.99-step-30"]
    assert swept["ema-0.9-step-30"]["0.weight"].numpy().tobytes() == post["0.weight"].numpy().tobytes()
    info = emalog.info(db)
    assert info["steps"] == 30 and info["last_step"] == 30
    history = emalog.metrics(db, as_pandas=False)
    assert history["step"] == list(range(1, 31)) and len(history["loss"]) == 30
    acc = emalog.metrics(db, keys="eval/acc", as_pandas=False)
    assert acc == {"step": [30], "eval/acc": [0.75]}
    assert not any(p.suffix == ".safetensors" for p in tmp_path.rglob("*")), "no step file is left behind"


@pytest.mark.parametrize("spool", ["auto", None])
def test_numpy_only_states_and_framework(db, spool):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 8)).astype(np.float32)
    states = []
    with emalog.Logger(db, ema="0.9", spool=spool) as log:
        for step in range(1, 11):
            w = w + np.float32(0.01) * rng.standard_normal(w.shape).astype(np.float32)
            log.step(step, {"w": w, "count": np.array([step], dtype=np.int64)})
            states.append({"w": w.copy()})
    shadow = emalog.load_shadow(db, framework="numpy")
    assert shadow["w"].tobytes() == reference_ema(states, 0.9)["w"].tobytes()
    assert emalog.load_raw(db, step=4, framework="numpy")["count"].tolist() == [4]


@pytest.mark.parametrize("spool", ["auto", None])
def test_a_refused_step_surfaces_as_an_exception_with_emalogs_message(db, spool):
    log = emalog.Logger(db, ema="0.9", spool=spool)
    log.step(1, {"w": np.zeros(4, np.float32)})
    log.step(2, {"w": np.array([0, np.nan, 0, 0], np.float32)})
    with pytest.raises(emalog.EmalogError) as raised:
        for step in range(3, 1000):
            log.step(step, {"w": np.zeros(4, np.float32)})
        log.close()
    assert "NaN" in str(raised.value) and "index 1" in str(raised.value)
    assert emalog.info(db)["steps"] == 1


def test_a_missing_binary_is_a_clear_error(monkeypatch, db):
    monkeypatch.setenv("EMALOG", "/nonexistent/emalog")
    with pytest.raises(emalog.EmalogError, match="EMALOG"):
        emalog.Logger(db)


def test_kill_9_of_the_training_process_then_resume(db, tmp_path):
    # The emalog child sees its stdin close and commits every whole step it received: the ones
    # queued in the killed process (at most queue_steps + the one being written) are lost, never a
    # committed one.
    probe = kill_trainer_when_ready(tmp_path, db, f"""
        import sys, time, numpy as np, emalog
        w = np.zeros(1000, np.float32)
        log = emalog.Logger({db!r}, ema="0.99")
        for step in range(1, 100000):
            w = w + np.float32(step % 7) * np.float32(1e-3)
            log.step(step, {{"w": w}}, metrics={{"loss": float(step)}})
            if step == 50:
                print("ready", flush=True)
    """)
    assert probe.returncode == 0, probe.stderr
    last = emalog.info(db)["last_step"]
    assert 50 - 3 <= last < 100000
    audit = subprocess.run([emalog.binary(), "audit", "--db", db], capture_output=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    # Resume the same log where it stopped.
    with emalog.Logger(db, ema="0.99") as log:
        log.step(last + 1, {"w": np.ones(1000, np.float32)})
    assert emalog.info(db)["last_step"] == last + 1


def test_without_torch_everything_is_numpy(db, tmp_path):
    """torch is optional: with it unimportable, states are numpy arrays and loads return numpy;
    asking for torch tensors then says how to get them."""
    script = tmp_path / "no_torch.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # import torch now raises ImportError
        import numpy as np, emalog
        w = np.arange(6, dtype=np.float32)
        with emalog.Logger({db!r}, ema="0.9") as log:
            for step in range(1, 4):
                log.step(step, {{"w": w + step}}, metrics={{"loss": 1.0 / step}})
        try:
            emalog.load_shadow({db!r}, framework="torch")
            raise SystemExit("framework='torch' went through without torch")
        except emalog.EmalogError as error:
            assert "framework='numpy'" in str(error), str(error)
        shadow = emalog.load_shadow({db!r})
        assert isinstance(shadow["w"], np.ndarray), type(shadow["w"])
        c1, c2 = np.float32(0.1), np.float32(0.9)
        s = w + 1
        for step in (2, 3):
            s = c1 * (w + step) + c2 * s
        assert shadow["w"].tobytes() == s.tobytes()
        assert isinstance(emalog.load_raw({db!r}, step=2)["w"], np.ndarray)
        print("ok")
    """))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(emalog.__file__)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, env=env)
    assert done.returncode == 0 and done.stdout.strip() == b"ok", done.stderr.decode()
