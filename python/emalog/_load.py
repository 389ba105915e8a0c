"""Reading a log back: shadows, raw steps, sweeps, metrics, the summary."""
import csv
import io
import json
import math
import os
import tempfile

from ._cli import run as _run


def _tensors(data, framework):
    if framework is None:
        try:
            import torch  # noqa: F401
            framework = "torch"
        except ImportError:
            framework = "numpy"
    if framework == "torch":
        from safetensors.torch import load
        return load(bytes(data))
    if framework == "numpy":
        from safetensors.numpy import load
        return load(bytes(data))
    raise ValueError(f"framework is 'torch' or 'numpy', not {framework!r}")


def _step_args(step):
    return [] if step is None else [f"--step={int(step)}"]


def _source(db, run):
    """`--db` and, for a team store (postgresql://...), `--run`."""
    return ["--db", str(db)] + ([] if run is None else ["--run", str(run)])


def load_shadow(db, step=None, ema=None, decay=None, dtype="f32", framework=None, run=None):
    """The EMA shadow at `step` (default: the latest) as {name: tensor}, ready for
    `model.load_state_dict`: torch tensors, or numpy arrays without torch or with
    framework="numpy". `ema` selects a track by name or spec (default: the log's only track);
    `decay` a constant decay, computed post hoc when no track holds it. `dtype` is "f32" (the
    shadow's own precision) or "param" (each parameter's dtype). With a team store
    (db="postgresql://..."), `run` names the run (a sharded run reads whole)."""
    args = ["shadow", *_source(db, run), *_step_args(step)]
    if ema is not None:
        args += ["--ema", str(ema)]
    if decay is not None:
        args += ["--decay", repr(float(decay))]
    args += ["--dtype", dtype, "--format", "safetensors", "-o", "-"]
    return _tensors(_run(args), framework)


def load_raw(db, step=None, framework=None, run=None):
    """The raw weights of `step` (default: the latest), exactly as ingested."""
    return _tensors(_run(["raw", *_source(db, run), *_step_args(step), "--format", "safetensors", "-o", "-"]), framework)


def sweep(db, decays, step=None, ema=(), framework=None, run=None):
    """Shadows for several constant decays (and specs in `ema`) in one pass over the raw steps:
    {file stem: {name: tensor}}, e.g. "ema-0.999-step-5000". The CLI writes one file per shadow
    into a temporary folder, read back and removed."""
    decays = [float(d) for d in decays]
    if isinstance(ema, str):
        ema = [ema]
    with tempfile.TemporaryDirectory(prefix="emalog-sweep-") as folder:
        args = ["sweep", *_source(db, run), *_step_args(step)]
        if decays:
            args += ["--decays", ",".join(repr(d) for d in decays)]
        for spec in ema:
            args += ["--ema", str(spec)]
        _run(args + ["-o", folder])
        files = sorted(os.listdir(folder))
        out = {}
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                out[name[: -len(".safetensors")] if name.endswith(".safetensors") else name] = _tensors(f.read(), framework)
        return out


def metrics(db, keys=None, start=None, end=None, run=None):
    """Metric histories: a pandas DataFrame indexed by step when pandas is installed, else a dict
    of columns with a "step" column (missing values are NaN). With a team store, `run` is a run
    name or a list of them (side by side: columns "RUN:KEY")."""
    args = ["metrics", "--db", str(db), "--format", "csv"]
    for name in [run] if isinstance(run, str) else (run or []):
        args += ["--run", str(name)]
    for key in [keys] if isinstance(keys, str) else (keys or []):
        args += ["--key", key]
    if start is not None:
        args.append(f"--from={int(start)}")
    if end is not None:
        args.append(f"--to={int(end)}")
    text = _run(args).decode()
    rows = list(csv.reader(io.StringIO(text)))
    header, body = (rows[0], rows[1:]) if rows else (["step"], [])
    columns = {name: [] for name in header}
    for row in body:
        for name, cell in zip(header, row):
            columns[name].append(int(cell) if name == "step" else (float(cell) if cell not in ("", "nan") else math.nan))
    try:
        import pandas
    except ImportError:
        return columns
    frame = pandas.DataFrame({k: v for k, v in columns.items() if k != "step"}, index=pandas.Index(columns["step"], name="step"))
    return frame


def info(db, run=None, digest=False):
    """The log's summary (`emalog info --json`) as a dict; `digest` adds "content_sha256", a
    SHA-256 of everything it stores (equal for a log, its pushed run and a pulled copy)."""
    return json.loads(_run(["info", *_source(db, run), "--json"] + (["--digest"] if digest else [])))
