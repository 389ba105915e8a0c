"""emalog for Python: log steps from the training loop, load EMA shadows back as state_dicts.

Drives the `emalog` binary (found through $EMALOG or PATH)."""
from ._cli import EmalogError, binary
from ._load import info, load_raw, load_shadow, metrics, sweep
from ._pictures import plot, report
from ._team import pull, push, runs
from .logger import EmalogWarning, Logger

__all__ = ["EmalogError", "EmalogWarning", "Logger", "binary", "info", "load_raw", "load_shadow", "metrics", "plot", "pull", "push", "report",
           "runs", "sweep"]
__version__ = "0.1.0"
