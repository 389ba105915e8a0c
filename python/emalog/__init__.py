"""emalog for Python: log steps from the training loop, load EMA shadows back as state_dicts.

Drives the `emalog` binary (found through $EMALOG or PATH)."""
from ._cli import EmalogError, binary
from ._ema import EMA, Spec
from ._load import info, load_raw, load_shadow, metrics, pin, pins, prune, sweep, unpin
from ._pictures import plot, report
from ._shards import Slice
from ._team import pull, push, runs
from .logger import EmalogWarning, Logger

__all__ = ["EMA", "EmalogError", "EmalogWarning", "Logger", "Spec", "binary", "info", "load_raw", "load_shadow", "metrics", "prune",
           "pin", "pins", "plot", "pull", "push", "report", "runs", "Slice", "sweep", "unpin"]
# The one place the package's version is written (pyproject.toml reads it); a test checks that the
# emalog binary it drives says the same.
__version__ = "0.1.0"
