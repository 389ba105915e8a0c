import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest


def pytest_configure(config):
    if not os.environ.get("EMALOG") and shutil.which("emalog") is None:
        raise pytest.UsageError("these tests run the real emalog binary: set $EMALOG (e.g. .build/debug/emalog) or put it on PATH")


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "run.emalog")


def kill_trainer_when_ready(tmp_path, db, code):
    """Runs `code` (a training script logging into `db` that prints "ready" at some step) as its own
    process, SIGKILLs it once it is ready, then waits until its emalog ingest has finished (a second
    ingest is refused with 75 while it runs). Returns the probe ingest's result (exit 0 once the log
    is free)."""
    import emalog
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(emalog.__file__)))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    assert child.stdout.readline().strip() == b"ready"
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.time() + 60
    while True:
        probe = subprocess.run([emalog.binary(), "ingest", "--db", db, "-"], stdin=subprocess.DEVNULL, capture_output=True)
        if probe.returncode != 75 or time.time() > deadline:
            return probe
        time.sleep(0.05)
