"""Reading a log back: shadows, raw steps, sweeps, metrics, the summary."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Union

import warnings

from ._cli import EmalogError
from ._cli import run as _run
from ._cli import run_with_notes
from ._cli import run_json_lines
from ._ema import Spec, spec_text, spec_texts

Framework = Optional[Literal["torch", "numpy"]]
#: A log file's path, or a team store's address (postgresql://...).
Location = Union[str, "os.PathLike[str]"]


def _tensors(data: bytes, framework: Framework) -> Dict[str, Any]:
    if framework is None:  # SPEC: torch tensors, numpy arrays without torch
        try:
            import torch  # noqa: F401
            framework = "torch"
        except ImportError:
            framework = "numpy"
    if framework == "torch":
        try:
            from safetensors.torch import load
        except ImportError as missing:
            raise EmalogError(f"framework='torch' asks for torch tensors and they cannot be made here ({missing}): "
                              "pip install torch, or pass framework='numpy'") from missing
        return load(bytes(data))
    if framework == "numpy":
        from safetensors.numpy import load
        return load(bytes(data))
    raise ValueError(f"framework is 'torch' or 'numpy', not {framework!r}")


#: A step: its number, or the name of a pin (`emalog.pin`).
Step = Union[int, str]


def _step_args(step: Optional[Step]) -> List[str]:
    if step is None:
        return []
    return [f"--step={step}"] if isinstance(step, str) else [f"--step={int(step)}"]


def _source(db: Location, run: Optional[str]) -> List[str]:
    """`--db` and, for a team store (postgresql://...), `--run`."""
    return ["--db", os.fspath(db)] + ([] if run is None else ["--run", str(run)])


def load_shadow(db: Location, step: Optional[Step] = None, ema: Optional[Spec] = None, decay: Optional[float] = None,
                dtype: Literal["f32", "param"] = "f32", framework: Framework = None,
                run: Optional[str] = None, sigma_rel: Optional[float] = None, synthesize: bool = False) -> Dict[str, Any]:
    """The EMA shadow at a step, ready for `model.load_state_dict`.

    Args:
        db: the log file, or a team store (postgresql://...) with `run`.
        step: the step, or a pin's name (default: the latest).
        ema: a track by name, a spec string, or `emalog.EMA(...)` (default: the log's only track);
            a profile no track holds is computed post hoc, exactly.
        decay: a constant decay (short for `ema=EMA(decay)`).
        dtype: "f32" (the shadow's own precision) or "param" (each parameter's dtype).
        framework: "torch" (torch tensors) or "numpy" (numpy arrays); None (the default): torch
            tensors when torch is installed, else numpy arrays.
        run: the team store's run (a sharded run reads whole).
        sigma_rel: the power-function EMA (EDM2) of this sigma_rel: replayed exactly when the log
            kept every raw step, else synthesised from the snapshots of its power tracks.
        synthesize: synthesise a power-function EMA (EDM2's post-hoc method) even where a replay could.

    Returns:
        {name: tensor}, in the log's tensor order.

    Raises:
        EmalogError: emalog's message, exit code and kind (e.g. a step the log does not have, or
            raw steps a retention policy left out: status 65, naming the steps that can answer).
    """
    args = ["shadow", *_source(db, run), *_step_args(step)]
    if sigma_rel is not None:
        args += ["--sigma-rel", repr(float(sigma_rel))]
    if synthesize:
        args.append("--synthesize")
    if ema is not None:
        args += ["--ema", spec_text(ema)]
    if decay is not None:
        args += ["--decay", repr(float(decay))]
    args += ["--dtype", dtype, "--format", "safetensors", "-o", "-"]
    return _tensors(_run_warning_of_synthesis(args), framework)


def _run_warning_of_synthesis(args: List[str]) -> bytes:
    """Runs emalog; a shadow made by EDM2's post-hoc synthesis (an approximation, with its fit
    error) is said as an `EmalogWarning`."""
    from .logger import EmalogWarning

    out, notes = run_with_notes(args)
    for note in notes:
        if note.startswith("synthesised"):
            warnings.warn(EmalogWarning(note), stacklevel=3)
    return out


def load_raw(db: Location, step: Optional[Step] = None, framework: Framework = None,
             run: Optional[str] = None) -> Dict[str, Any]:
    """The raw weights of a step (default: the latest), exactly as ingested.

    Returns:
        {name: tensor}: torch tensors or numpy arrays, as `framework` says (see `load_shadow`).
    """
    return _tensors(_run(["raw", *_source(db, run), *_step_args(step), "--format", "safetensors", "-o", "-"]), framework)


def sweep(db: Location, decays: Iterable[float] = (), step: Optional[Step] = None, ema: Union[Spec, Sequence[Spec]] = (),
          framework: Framework = None, run: Optional[str] = None, sigma_rels: Iterable[float] = (),
          synthesize: bool = False) -> Dict[str, Dict[str, Any]]:
    """Shadows for several constant decays (and profiles in `ema`, and power-function EMAs of
    `sigma_rels`) in one pass over the raw steps (or, for `sigma_rels` the raw steps cannot replay
    or with `synthesize`, one read of the power tracks' snapshots: EDM2's post-hoc synthesis).

    Returns:
        {file stem: {name: tensor}}, e.g. "ema-0.999-step-5000". (The CLI writes one file per
        shadow into a temporary folder, read back and removed.)
    """
    decays = [float(d) for d in decays]
    with tempfile.TemporaryDirectory(prefix="emalog-sweep-") as folder:
        args = ["sweep", *_source(db, run), *_step_args(step)]
        if decays:
            args += ["--decays", ",".join(repr(d) for d in decays)]
        for spec in spec_texts(ema):
            args += ["--ema", spec]
        sigma_rels = [float(s) for s in sigma_rels]
        if sigma_rels:
            args += ["--sigma-rels", ",".join(repr(s) for s in sigma_rels)]
        if synthesize:
            args.append("--synthesize")
        _run_warning_of_synthesis(args + ["-o", folder])
        out = {}
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                out[name[: -len(".safetensors")] if name.endswith(".safetensors") else name] = _tensors(f.read(), framework)
        return out


def metrics(db: Location, keys: Union[str, Sequence[str], None] = None, start: Optional[int] = None,
            end: Optional[int] = None, run: Union[str, Sequence[str], None] = None, as_pandas: Optional[bool] = None) -> Any:
    """Metric histories, one column per key (missing values are NaN).

    Args:
        keys: a key or keys (default: every key).
        start, end: the steps to read (inclusive; default: all).
        run: with a team store, a run or a list of runs (side by side: columns "RUN:KEY").
        as_pandas: True for a pandas DataFrame indexed by step, False for a dict of lists with a
            "step" column; None (the default): a DataFrame when pandas is installed, else the dict.

    Returns:
        A pandas.DataFrame, or {column: list}.
    """
    args = ["metrics", "--db", os.fspath(db), "--format", "csv"]
    for name in [run] if isinstance(run, str) else (run or []):
        args += ["--run", str(name)]
    for key in [keys] if isinstance(keys, str) else (keys or []):
        args += ["--key", key]
    if start is not None:
        args.append(f"--from={int(start)}")
    if end is not None:
        args.append(f"--to={int(end)}")
    pandas = None
    if as_pandas is not False:
        try:
            import pandas
        except ImportError as missing:
            if as_pandas:
                raise EmalogError("as_pandas=True asks for a pandas DataFrame and pandas is not installed: pip install pandas, "
                                  "or pass as_pandas=False for a dict of lists") from missing
    text = _run(args).decode()
    rows = list(csv.reader(io.StringIO(text)))
    header, body = (rows[0], rows[1:]) if rows else (["step"], [])
    columns: Dict[str, list] = {name: [] for name in header}
    for row in body:
        for name, cell in zip(header, row):
            columns[name].append(int(cell) if name == "step" else (float(cell) if cell not in ("", "nan") else math.nan))
    if pandas is None:
        return columns
    return pandas.DataFrame({k: v for k, v in columns.items() if k != "step"}, index=pandas.Index(columns["step"], name="step"))


def info(db: Location, run: Optional[str] = None, digest: bool = False) -> Dict[str, Any]:
    """The log's summary (`emalog info --json`).

    Args:
        digest: add "content_sha256", a SHA-256 of everything the log stores (equal for a log, its
            pushed run and a pulled copy; reads every stored byte).

    Returns:
        A dict: path, log_id, steps, first_step, last_step, tensors, parameters, tracks, ...
    """
    return json.loads(_run(["info", *_source(db, run), "--json"] + (["--digest"] if digest else [])))



def pins(db: Location, run: Optional[str] = None) -> List[Dict[str, Any]]:
    """The log's named steps (`emalog pins`).

    Returns:
        One dict per pin, by name: name, step, pinned_at.
    """
    return run_json_lines(["pins", *_source(db, run), "--format", "json"])


def pin(db: Location, step: Step, name: str) -> Dict[str, Any]:
    """Names `step` of the log file `db` as `name` (readers then take `step=name`; its raw
    weights survive every retention policy). A name already used moves.

    Returns:
        The pin: name, step, pinned_at.

    Raises:
        EmalogError: no such step (65), a name that cannot be one (64), an ingest holds the log (75).
    """
    _run(["pin", "--db", os.fspath(db), *_step_args(step), "--name", str(name)])
    return next(p for p in pins(db) if p["name"] == name)


def unpin(db: Location, name: str) -> None:
    """Removes pin `name` of the log file `db`."""
    _run(["pin", "--db", os.fspath(db), "--remove", str(name)])


def prune(db: Location, raw_every: int, raw_keep_last: Optional[int] = None, dry_run: bool = False) -> Dict[str, Any]:
    """Keeps only the raw steps a retention policy keeps in the log file `db` (`emalog prune`):
    the first step, every `raw_every`-th, the last `raw_keep_last` and pinned steps keep their raw
    weights; every tracked shadow readable at a snapshot step stays bit-identical. The policy is
    recorded: later Loggers follow it.

    Args:
        raw_keep_last: the last steps to keep (default: the log's policy's, else 0).
        dry_run: report what it would reclaim, changing nothing.

    Returns:
        What was done: steps_dropped, steps_with_raw, steps, reclaimed_bytes, size_before,
        size_after, policy, dry_run, protected_after.

    Raises:
        EmalogError: an ingest holds the log (75), not a log (74).
    """
    args = ["prune", "--db", os.fspath(db), "--raw-every", str(int(raw_every)), "--format", "json"]
    if raw_keep_last is not None:
        args += ["--raw-keep-last", str(int(raw_keep_last))]
    if dry_run:
        args.append("--dry-run")
    return run_json_lines(args)[0]
