"""Pictures and pages: `emalog plot` and `emalog report` from Python."""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple, Union

from ._cli import run
from ._ema import Spec, spec_texts

Logs = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


def _dbs(db: Logs) -> List[str]:
    return [os.fspath(db)] if isinstance(db, (str, os.PathLike)) else [os.fspath(d) for d in db]


def _common(db: Logs, keys, smooth, log_y, tensor, width) -> List[str]:
    if isinstance(keys, str):
        keys = [keys]
    args = [a for d in _dbs(db) for a in ("--db", d)]
    args += [a for k in keys for a in ("--key", str(k))]
    if smooth is not None:
        args += ["--smooth", repr(float(smooth))]
    if log_y:
        args.append("--log-y")
    if tensor is not None:
        args += ["--tensor", str(tensor)]
    if width is not None:
        args += ["--width", str(int(width))]
    return args


def plot(db: Logs, out: Optional[str] = None, keys: Union[str, Sequence[str]] = (), tracks: bool = False,
         ema: Union[Spec, Sequence[Spec]] = (), smooth: Optional[float] = None, log_y: bool = False,
         steps: Optional[Tuple[Optional[int], Optional[int]]] = None, tensor: Optional[str] = None,
         width: Optional[int] = None, height: Optional[int] = None, title: Optional[str] = None) -> str:
    """Draws metric curves (and with tracks=True each EMA's distance to the weights and its decay
    per step) as SVG.

    Args:
        db: a log, or a list of logs drawn side by side.
        out: the .svg file to write; None returns the SVG text (in Jupyter:
            IPython.display.SVG(emalog.plot(...))).
        keys: the metric keys (default: every key).
        tracks: draw each track's distance to the weights and its decay per step.
        ema: more profiles to draw (spec strings or emalog.EMA), computed post hoc.
        smooth: TensorBoard's smoothing weight in [0, 1).
        steps: a (first, last) range; either may be None.

    Returns:
        `out`, or the SVG text.
    """
    args = ["plot", *_common(db, keys, smooth, log_y, tensor, width)]
    if tracks:
        args.append("--tracks")
    args += [a for spec in spec_texts(ema) for a in ("--ema", spec)]
    if steps is not None:
        first, last = steps
        if first is not None:
            args.append(f"--from={int(first)}")
        if last is not None:
            args.append(f"--to={int(last)}")
    if height is not None:
        args += ["--height", str(int(height))]
    if title is not None:
        args += ["--title", str(title)]
    if out is None:
        return run([*args, "-o", "-"]).decode("utf-8")
    run([*args, "-o", os.fspath(out)])
    return os.fspath(out)


def report(db: Logs, out: "str | os.PathLike[str]", keys: Union[str, Sequence[str]] = (), smooth: Optional[float] = None,
           log_y: bool = False, tensor: Optional[str] = None, tracks: bool = True, audit: bool = True,
           width: Optional[int] = None) -> str:
    """Writes the one-page HTML report of `db` (a log or a list of logs side by side).

    Args:
        tracks, audit: False skips the replay that draws the tracks, or the audit.

    Returns:
        The path written.
    """
    args = ["report", *_common(db, keys, smooth, log_y, tensor, width)]
    if not tracks:
        args.append("--no-tracks")
    if not audit:
        args.append("--no-audit")
    run([*args, "-o", os.fspath(out)])
    return os.fspath(out)
