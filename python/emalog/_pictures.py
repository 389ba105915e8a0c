"""Pictures and pages: `emalog plot` and `emalog report` from Python."""
import os

from ._cli import run


def _dbs(db):
    return [str(db)] if isinstance(db, (str, os.PathLike)) else [str(d) for d in db]


def _common(db, keys, smooth, log_y, tensor, width):
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


def plot(db, out=None, keys=(), tracks=False, ema=(), smooth=None, log_y=False, steps=None, tensor=None,
         width=None, height=None, title=None):
    """Draws metric curves (and with tracks=True each EMA's distance to the weights and its decay
    per step) as SVG. `db` is a log or a list of logs drawn side by side; `keys` the metric keys
    (default: every key); `steps` a (first, last) range. Writes `out` and returns its path, or
    returns the SVG text when `out` is None (in Jupyter: IPython.display.SVG(emalog.plot(...)))."""
    args = ["plot", *_common(db, keys, smooth, log_y, tensor, width)]
    if tracks:
        args.append("--tracks")
    if isinstance(ema, str):
        ema = [ema]
    args += [a for e in ema for a in ("--ema", str(e))]
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
    run([*args, "-o", str(out)])
    return str(out)


def report(db, out, keys=(), smooth=None, log_y=False, tensor=None, tracks=True, audit=True, width=None):
    """Writes the one-page HTML report of `db` (a log or a list of logs side by side) to `out`
    and returns its path. tracks=False / audit=False skip the replay and the audit."""
    args = ["report", *_common(db, keys, smooth, log_y, tensor, width)]
    if not tracks:
        args.append("--no-tracks")
    if not audit:
        args.append("--no-audit")
    run([*args, "-o", str(out)])
    return str(out)
