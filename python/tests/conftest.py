import os
import shutil

import pytest


def pytest_configure(config):
    if not os.environ.get("EMALOG") and shutil.which("emalog") is None:
        raise pytest.UsageError("these tests run the real emalog binary: set $EMALOG (e.g. .build/debug/emalog) or put it on PATH")


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "run.emalog")
