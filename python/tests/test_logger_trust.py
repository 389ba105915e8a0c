"""The Logger keeps what it was given: steps of any size through the pipe and the spool (content
checked against the source), records flushed at once, refusals raised on the next call, metric
conflicts as warnings, metrics committed with their step, any dtype in any order."""
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import emalog

torch = pytest.importorskip("torch")


def committed_steps(db):
    try:
        return emalog.info(db)["steps"]
    except emalog.EmalogError:
        return 0


def wait_for(condition, seconds=60):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            return False
        time.sleep(0.02)
    return True


CHANNELS = {"shm": {}, "pipe": {"transport": "pipe"}, "spool": {"spool": "auto"}}


@pytest.mark.parametrize("channel", CHANNELS)
def test_steps_above_every_threshold_come_back_exactly(db, channel):
    """20M float32 elements (80 MB): above the 64 MiB read window and resident size, the 64 MiB
    pipelined step, 16 MiB chunks, the 1 MiB pipe; odd-sized tensors of other dtypes before it;
    through shared memory (slots reused), the pipe and the spool."""
    rng = np.random.default_rng(3)
    big = rng.standard_normal(20_000_000).astype(np.float32)
    flags = torch.tensor([True, False, True])
    half = torch.arange(5, dtype=torch.bfloat16)
    states = []
    with emalog.Logger(db, ema="0.9", slots=3, **CHANNELS[channel]) as log:
        for step in range(1, 5):
            big += np.float32(1e-3)
            state = {"a_flags": flags, "b_half": half + step, "c_big": torch.from_numpy(big.copy()), "d_count": torch.tensor([step])}
            log.step(step, state, metrics={"loss": 1.0 / step})
            states.append({k: v.clone() for k, v in state.items()})
    for step, state in enumerate(states, start=1):
        raw = emalog.load_raw(db, step=step)
        for name, value in state.items():
            assert raw[name].dtype == value.dtype, name
            assert raw[name].view(torch.uint8).numpy().tobytes() == value.view(torch.uint8).numpy().tobytes(), (step, name)
    c1, c2 = np.float32(0.1), np.float32(0.9)
    shadow = states[0]["c_big"].numpy().copy()
    for state in states[1:]:
        a = c1 * state["c_big"].numpy()
        b = c2 * shadow
        shadow = a + b
    assert emalog.load_shadow(db, framework="numpy")["c_big"].tobytes() == shadow.tobytes()
    audit = subprocess.run([emalog.binary(), "audit", "--db", db], capture_output=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_step_is_on_its_way_when_step_returns(db, channel):
    """Six tiny steps are committed while the Logger is still open (nothing waits in a buffer)."""
    log = emalog.Logger(db, ema="0.9", **CHANNELS[channel])
    try:
        for step in range(1, 7):
            log.step(step, {"w": np.full(3, step, np.float32)}, metrics={"loss": float(step)})
        assert wait_for(lambda: committed_steps(db) == 6), committed_steps(db)
        assert wait_for(lambda: len(emalog.metrics(db, as_pandas=False)["loss"]) == 6)
    finally:
        log.close()


def test_a_refused_step_raises_on_the_next_call(db):
    log = emalog.Logger(db, ema="0.9")
    log.step(1, {"w": np.zeros(4, np.float32)})
    log.step(2, {"w": np.array([0, np.inf, 0, 0], np.float32)})
    assert wait_for(lambda: log._process.poll() is not None)
    with pytest.raises(emalog.EmalogError) as raised:
        log.step(3, {"w": np.zeros(4, np.float32)})
    assert "Inf" in str(raised.value) and "allow_nonfinite=True" in str(raised.value), str(raised.value)
    assert "--allow-nonfinite" not in str(raised.value)
    assert emalog.info(db)["steps"] == 1


def test_a_conflicting_metric_is_a_warning_and_the_steps_go_on(db):
    with emalog.Logger(db) as log:
        log.step(1, {"w": np.zeros(2, np.float32)}, metrics={"loss": 1.0})
        log.metrics(1, {"loss": 2.0})  # a different value for a stored (step, key)
        for step in range(2, 6):
            log.step(step, {"w": np.full(2, step, np.float32)})
        with pytest.warns(emalog.EmalogWarning, match=r"step 1 key 'loss' is stored as 1.0, given 2.0.*replace=True"):
            assert wait_for(lambda: committed_steps(db) == 5)
            log.metrics(5, {"acc": 0.5})
            log.close()
    assert emalog.info(db)["steps"] == 5
    assert list(emalog.metrics(db, keys="loss", as_pandas=False)["loss"]) == [1.0]


def test_a_step_key_in_metrics_is_the_step(db):
    with emalog.Logger(db) as log:
        log.step(1, {"w": np.zeros(2, np.float32)}, metrics={"step": 1, "loss": 0.5})
        with pytest.raises(ValueError, match="'step': 7"):
            log.step(2, {"w": np.zeros(2, np.float32)}, metrics={"step": 7})
    assert list(emalog.metrics(db, as_pandas=False)["loss"]) == [0.5]


def test_any_dtype_in_any_order_and_non_contiguous_views(db):
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = {"a": torch.tensor([True, False, True]), "b": torch.arange(3, dtype=torch.bfloat16), "c": w.t(),
             "d": torch.arange(3, dtype=torch.float16), "e": torch.tensor([1, 2, 3], dtype=torch.int8), "f": w[:, 1]}
    with emalog.Logger(db) as log:
        log.step(1, state)
    raw = emalog.load_raw(db, step=1)
    for name, value in state.items():
        assert raw[name].dtype == value.dtype and tuple(raw[name].shape) == tuple(value.shape), name
        assert torch.equal(raw[name], value), name


def test_provenance_names_the_script_and_the_logger(db, tmp_path):
    script = tmp_path / "train_small.py"
    script.write_text(textwrap.dedent(f"""
        import numpy as np, emalog
        with emalog.Logger({db!r}) as log:
            log.step(1, {{"w": np.zeros(2, np.float32)}})
    """))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(emalog.__file__)))
    subprocess.run([sys.executable, str(script)], check=True, env=env)
    text = subprocess.run([emalog.binary(), "info", "--db", db, "--provenance"], capture_output=True, text=True).stdout
    assert f"first step  1  {script} via emalog.Logger (pid" in text, text
    assert "stdin record" not in text


def test_metrics_given_with_a_step_commit_with_it_when_the_trainer_is_killed(db, tmp_path):
    """Killed by SIGKILL after step() returned: each step that reached emalog has its metrics (one
    transaction); at most the queue's steps (queue_steps=2) were still in the killed process."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time, numpy as np, emalog
        log = emalog.Logger({db!r}, ema="0.9")
        for step in range(1, 6):
            log.step(step, {{"w": np.full(100, step, np.float32)}}, metrics={{"loss": float(step)}})
        print("ready", flush=True)
        time.sleep(60)
    """))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(emalog.__file__)))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    assert child.stdout.readline().strip() == b"ready"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert wait_for(lambda: subprocess.run([emalog.binary(), "ingest", "--db", db, "-"], stdin=subprocess.DEVNULL,
                                           capture_output=True).returncode != 75)
    last = emalog.info(db)["last_step"]
    assert 5 - 2 <= last <= 5
    assert list(emalog.metrics(db, as_pandas=False)["loss"]) == [float(step) for step in range(1, last + 1)]


def test_sigterm_to_the_ingest_stores_what_was_sent_and_stops(db, tmp_path):
    """`ingest -` stopped by SIGTERM (whoever sends it: a cluster's time limit) stores every record
    already sent (in the pipe or its buffer), then exits 0 without waiting for the stream's end."""
    def frames(steps):
        out = bytearray()
        for step in steps:
            header = f'{{"w":{{"dtype":"F32","shape":[4],"data_offsets":[0,16]}},"__metadata__":{{"step":"{step}"}}}}'.encode()
            out += b"M" + f'{{"step": {step}, "loss": {step}}}\n'.encode()
            out += b"S" + len(header).to_bytes(8, "little") + header + np.full(4, step, np.float32).tobytes()
        return bytes(out)
    child = subprocess.Popen([emalog.binary(), "ingest", "--db", db, "-"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdin.write(frames(range(1, 4)))
    child.stdin.flush()
    assert wait_for(lambda: committed_steps(db) >= 1)
    child.stdin.write(frames(range(4, 41)))  # sent, and at once the stop: these are in the pipe
    child.stdin.flush()
    child.send_signal(signal.SIGTERM)  # the stream stays open: the ingest must not wait for its end
    assert child.wait(timeout=30) == 0
    assert b"stopped by signal" in child.stderr.read()
    assert emalog.info(db)["last_step"] == 40
    assert list(emalog.metrics(db, as_pandas=False)["loss"]) == [float(step) for step in range(1, 41)]


def test_a_killed_spool_logger_leaves_nothing_the_next_one_keeps(db, tmp_path):
    """SIGKILL of a trainer logging through a spool leaves its folder and up to queue_steps step
    files (in RAM under /dev/shm); once its ingest is gone too, the next Logger with that spool
    removes them. Folders of live processes, and other names, stay."""
    spool = tmp_path / "spool"
    spool.mkdir()
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import time, numpy as np, emalog
        log = emalog.Logger({db!r}, ema="0.9", spool={str(spool)!r})
        for step in range(1, 4):
            log.step(step, {{"w": np.full(1000, step, np.float32)}})
        print("ready", flush=True)
        time.sleep(60)
    """))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(emalog.__file__)))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    assert child.stdout.readline().strip() == b"ready"
    left = os.listdir(spool)
    assert len(left) == 1 and left[0].startswith(f"emalog-spool-{child.pid}-")
    child.send_signal(signal.SIGKILL)
    child.wait()
    def lock_free(folder):  # the trainer and its ingest are gone once nobody holds the folder's lock
        fd = os.open(folder / ".lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
    assert wait_for(lambda: lock_free(spool / left[0]))
    assert os.path.isdir(spool / left[0])  # what SIGKILL leaves
    # A live Logger's folder (its lock held, here by this test: any PID namespace) and a folder
    # without a lock file stay.
    live = spool / "emalog-spool-1-live"
    other = spool / "emalog-spool-notes"
    live.mkdir()
    other.mkdir()
    held = os.open(live / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    with emalog.Logger(db, ema="0.9", spool=str(spool)) as log:
        log.step(10, {"w": np.full(1000, 10, np.float32)})
        names = sorted(os.listdir(spool))
        assert left[0] not in names and live.name in names and other.name in names and len(names) == 3
    assert sorted(os.listdir(spool)) == sorted([live.name, other.name])
    assert emalog.info(db)["last_step"] == 10
    os.close(held)
