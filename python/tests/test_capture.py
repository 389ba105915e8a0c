"""Capture through shared memory: the weights are copied off the training thread, the optimizer
waits for the copy, a weight changed before its copy refuses that step (never a step of two
states), and a killed trainer or emalog leaves whole steps and no shared memory behind."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import emalog
from conftest import kill_trainer_when_ready

torch = pytest.importorskip("torch")


def held_writer(log):
    """Makes the Logger's writer thread wait before each copy until the returned event is set (and
    has it copy steps of any size: small ones are otherwise copied in log.step())."""
    log._capture.small_step = 0  # copy="background", for steps of any size
    go = threading.Event()
    fill = log._capture.fill

    def waiting_fill(job):
        go.wait(30)
        fill(job)

    log._capture.fill = waiting_fill
    return go


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(40, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Linear(64, 5))


def train(net, log, steps, seed=1):
    """A real loop: forward and backward (BatchNorm's buffers change in forward), Adam, log.step
    after optimizer.step; returns each step's state as logged."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(seed)
    states = {}
    for step in range(1, steps + 1):
        x = torch.randn(16, 40, generator=generator)
        loss = net(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        states[step] = {k: v.clone() for k, v in net.state_dict().items()}
        log.step(step, net, {"loss": loss.item()})
    return states


@pytest.mark.parametrize("copied_by", ["writer", "log.step"])
def test_a_training_loop_through_three_slots_stores_every_step_exactly(db, tmp_path, copied_by):
    """50 steps through three slots, copied by the writer thread or (small steps) in log.step():
    each raw step equals the state at its log.step(), and both tracks equal those of the same
    steps sent through the pipe."""
    with emalog.Logger(db, ema=["0.9", "name=slow,decay=0.99"], slots=3) as log:
        assert log._ring is not None
        if copied_by == "writer":
            log._capture.small_step = 0
        states = train(model(), log, 50)
        assert log._ring.bytes_held() <= 3 * (len(log._ring.slots[0].memory) + 0)
    assert len(log._ring.slots) == 0  # closed
    for step in (1, 2, 3, 4, 25, 49, 50):
        raw = emalog.load_raw(db, step=step)
        assert set(raw) == set(states[step])
        for name, value in states[step].items():
            assert torch.equal(raw[name], value), (step, name)
    piped = str(tmp_path / "piped.emalog")
    with emalog.Logger(piped, ema=["0.9", "name=slow,decay=0.99"], transport="pipe") as log:
        for step, state in states.items():
            log.step(step, state)
    for track in ("ema-0.9", "slow"):
        a, b = emalog.load_shadow(db, ema=track), emalog.load_shadow(piped, ema=track)
        assert all(torch.equal(a[k], b[k]) for k in a), track
    assert list(emalog.metrics(db, as_pandas=False)["loss"]) == pytest.approx(list(emalog.metrics(db, as_pandas=False)["loss"]))


def test_log_step_returns_before_the_copy_and_the_optimizer_waits_for_it(db):
    """With the writer held, log.step() still returns (the copy is not on the training thread);
    optimizer.step() then waits until the copy is done, and the stored step is the weights before
    that optimizer step."""
    net = model()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    with emalog.Logger(db, ema="0.9") as log:
        go = held_writer(log)
        net(torch.randn(8, 40)).square().mean().backward()
        optimizer.step()  # the usual loop: log.step() after optimizer.step()
        before = {k: v.clone() for k, v in net.state_dict().items()}
        log.step(1, net)  # returns with the copy still to do
        net(torch.randn(8, 40)).square().mean().backward()  # forward and backward overlap the copy
        stepped = threading.Event()
        thread = threading.Thread(target=lambda: (optimizer.step(), stepped.set()))
        thread.start()
        assert not stepped.wait(0.5), "optimizer.step() must wait for the copy of the logged step"
        go.set()
        assert stepped.wait(30)
        thread.join()
    raw = emalog.load_raw(db, step=1)
    for name, value in before.items():
        assert torch.equal(raw[name], value), name
    assert not torch.equal(net[0].weight, before["0.weight"]), "the optimizer did step"


def test_a_weight_changed_before_its_copy_refuses_that_step(db):
    """An in-place change outside optimizer.step() before the copy: the step is never sent (no
    step of two states), the Logger raises, and the log holds the steps before it."""
    state = {"w": torch.zeros(1000), "v": torch.ones(70_000)}
    log = emalog.Logger(db, ema="0.9")
    log.step(1, state)
    log.close()
    log = emalog.Logger(db)
    go = held_writer(log)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0).step()  # an optimizer steps: copies go off the thread
    log.step(2, state)
    state["v"].add_(1.0)  # by hand, not through an optimizer: nothing waits for the copy
    go.set()
    with pytest.raises(emalog.EmalogError, match=r"tensor 'v' of step 2 changed between log.step\(\) and its copy"):
        log.close()
    assert emalog.info(db)["last_step"] == 1


def test_weights_updated_by_hand_are_copied_before_log_step_returns(db):
    """No optimizer stepped since the last log.step(): nothing would wait for a copy before the
    weights change, so log.step() returns once its step is copied (and in-place updates by hand
    right after are safe)."""
    w = torch.zeros(1 << 18)
    with emalog.Logger(db, ema="0.9") as log:
        go = held_writer(log)
        go.set()
        for step in range(1, 6):
            log.step(step, {"w": w})
            w += 1
    for step in range(1, 6):
        assert emalog.load_raw(db, step=step, framework="numpy")["w"].tolist() == [float(step - 1)] * (1 << 18)


def test_a_state_dict_of_numpy_arrays_and_cpu_tensors_mixed(db):
    """numpy arrays (no version counter) are copied at log.step(): changing them right after
    changes nothing stored."""
    w = np.arange(10, dtype=np.float32)
    t = torch.arange(100_000, dtype=torch.float32)
    with emalog.Logger(db, ema="0.9") as log:
        for step in range(1, 4):
            log.step(step, {"w": w, "t": t})
            w += 1  # at once, while the writer may still be copying
            with torch.no_grad():
                pass
    for step in range(1, 4):
        raw = emalog.load_raw(db, step=step, framework="numpy")
        assert raw["w"].tolist() == list(np.arange(10, dtype=np.float32) + step - 1)


def test_a_killed_ingest_surfaces_in_the_trainer_even_with_every_slot_held(db):
    """emalog killed: the next call raises EmalogError instead of waiting for a slot forever."""
    log = emalog.Logger(db, ema="0.9", slots=3)
    state = {"w": torch.zeros(1 << 16)}
    log.step(1, state)
    log._process.send_signal(signal.SIGKILL)
    log._process.wait()
    with pytest.raises(emalog.EmalogError):
        for step in range(2, 10):
            log.step(step, state)
    with pytest.raises(emalog.EmalogError):
        log.close()


def test_a_killed_trainer_leaves_whole_steps_and_no_shared_memory(db, tmp_path):
    """SIGKILL of a trainer logging through shared memory: its ingest stores the steps whose
    records it got, whole (audit clean), and exits; the memory file goes with the two processes
    (nothing under /dev/shm)."""
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    probe = kill_trainer_when_ready(tmp_path, db, f"""
        import time, torch, emalog
        log = emalog.Logger({db!r}, ema="0.9")
        w = torch.zeros(1 << 20)
        for step in range(1, 1000):
            w += 1  # by hand, no optimizer: each step is copied before log.step() returns
            log.step(step, {{"w": w}})
            if step == 5:
                print("ready", flush=True)
    """)
    assert probe.returncode == 0, probe.stderr
    last = emalog.info(db)["last_step"]
    assert last >= 1
    for step in (1, last):
        assert emalog.load_raw(db, step=step, framework="numpy")["w"].tolist() == [float(step)] * (1 << 20)
    audit = subprocess.run([emalog.binary(), "audit", "--db", db], capture_output=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    if os.path.isdir("/dev/shm"):
        assert set(os.listdir("/dev/shm")) - shm_before == set()


def test_a_retention_policy_holds_its_last_steps_in_slots_the_ring_makes_room_for(db, tmp_path):
    """raw_every=4, raw_keep_last=3 with slots=3 asked: emalog holds the last three left-out steps
    (kept if the run ends there), so the ring grows past them instead of waiting forever; the log
    keeps the first step, multiples of 4 and the last 3, and both tracks equal a run that keeps
    every raw step."""
    with emalog.Logger(db, ema=["0.9", "name=slow,decay=0.99"], raw_every=4, raw_keep_last=3, slots=3) as log:
        assert log._ring.max_slots == 6
        states = train(model(), log, 22)
    full = str(tmp_path / "full.emalog")
    with emalog.Logger(full, ema=["0.9", "name=slow,decay=0.99"], transport="pipe") as log:
        for step, state in states.items():
            log.step(step, state)
    kept = [1, 4, 8, 12, 16, 20, 21, 22]
    assert emalog.info(db)["steps_with_raw"] == len(kept)
    for step in kept:
        raw = emalog.load_raw(db, step=step)
        assert all(torch.equal(raw[k], v) for k, v in states[step].items()), step
    with pytest.raises(emalog.EmalogError, match="left out"):
        emalog.load_raw(db, step=19)
    for track in ("ema-0.9", "slow"):
        for step in (20, 22):
            a, b = emalog.load_shadow(db, ema=track, step=step), emalog.load_shadow(full, ema=track, step=step)
            assert all(torch.equal(a[k], b[k]) for k in a), (track, step)
    assert subprocess.run([emalog.binary(), "audit", "--db", db], capture_output=True).returncode == 0


def test_copy_at_step_the_default_sees_writes_that_bypass_version_counters(db):
    """`p.data.clamp_()` after log.step() (WGAN-style clipping) bypasses the version counters the
    background copy checks; with copy="at_step" (the default) each step is copied before
    log.step() returns, so the stored step is the weights at log.step()."""
    net = torch.nn.Linear(512, 512)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    logged = {}
    with emalog.Logger(db, ema="0.9") as log:
        assert log._capture.small_step == float("inf")
        for step in range(1, 4):
            net(torch.randn(4, 512)).square().mean().backward()
            optimizer.step()
            logged[step] = {k: v.clone() for k, v in net.state_dict().items()}
            log.step(step, net)
            for p in net.parameters():
                p.data.clamp_(-0.001, 0.001)  # not through the version counter
    for step, state in logged.items():
        raw = emalog.load_raw(db, step=step)
        assert all(torch.equal(raw[k], v) for k, v in state.items()), step


def test_a_failing_writer_thread_raises_instead_of_hanging(db):
    """Any error in the writer thread (not only a broken pipe) surfaces at the next call."""
    log = emalog.Logger(db, ema="0.9")
    log._capture.small_step = 0

    def failing(job):
        raise RuntimeError("copy failed")
    log._capture.fill = failing
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    optimizer.step()
    with pytest.raises(emalog.EmalogError, match="writer thread failed"):
        for step in range(1, 20):
            optimizer.step()
            log.step(step, {"w": torch.zeros(1 << 16)})
            time.sleep(0.01)
    with pytest.raises(emalog.EmalogError):
        log.close()


def test_a_resumed_log_with_only_raw_every_sizes_the_ring_for_the_logs_keep_last(db):
    """A second Logger giving raw_every alone keeps the log's raw_keep_last (emalog holds that many
    steps): its ring is sized for them, and the run goes on without waiting forever."""
    state = {"w": torch.zeros(1000)}
    with emalog.Logger(db, ema="0.9", raw_every=100, raw_keep_last=6) as log:
        for step in range(1, 4):
            state["w"] += 1
            log.step(step, state)
    with emalog.Logger(db, raw_every=100) as log:
        assert log._ring.max_slots >= 9
        for step in range(4, 20):
            state["w"] += 1
            log.step(step, state)
    assert emalog.info(db)["last_step"] == 19


def test_resuming_past_the_end_of_the_log_is_a_warning(db):
    with emalog.Logger(db, ema="0.9") as log:
        log.step(1, {"w": np.zeros(3, np.float32)})
    with pytest.warns(emalog.EmalogWarning, match="the log ends at step 1: steps 2 to 5 are not in it"):
        log = emalog.Logger(db, resume_from=5)
    log.close()
