"""Finding and running the emalog binary; its errors, warnings and notes read as JSON."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import List, NamedTuple, Optional, Sequence


class EmalogError(RuntimeError):
    """emalog refused or failed; the message is emalog's own (what, where, how to fix).

    Attributes:
        status: emalog's exit code (1 audit or verify mismatch, 64 usage, 65 bad input, 66 not
            found, 74 I/O or database, 75 busy, 70 anything else), or None when emalog did not run.
        kind: the exit code's name ("usage", "bad_input", "not_found", "io", "busy",
            "software", "mismatch"), or None.
    """

    def __init__(self, message: str, status: Optional[int] = None, kind: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def binary() -> str:
    """The emalog binary: $EMALOG, else `emalog` on PATH.

    Raises:
        EmalogError: neither names an executable file.
    """
    path = os.environ.get("EMALOG")
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise EmalogError(f"$EMALOG is {path!r}, which is not an executable file: point it at the emalog binary "
                              "(e.g. .build/release/emalog) or unset it to use the one on PATH")
        return path
    found = shutil.which("emalog")
    if found is None:
        raise EmalogError("the emalog binary was not found: put it on PATH or set $EMALOG to its path "
                          "(build it with `swift build -c release`: .build/release/emalog)")
    return found


# Every run asks for JSON lines on stderr (`--error-format json`): no human text is parsed.
ERROR_FORMAT = "--error-format=json"


class Stderr(NamedTuple):
    """What emalog wrote on stderr, by kind."""
    errors: List[dict]
    warnings: List[str]
    notes: List[str]
    other: List[str]


def read_stderr(data: bytes | str) -> Stderr:
    """emalog's stderr (JSON lines) split into errors ({"message", "exit_code", "kind"}),
    warnings and notes; lines that are not emalog's JSON (a crash) are kept as they are."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    out = Stderr([], [], [], [])
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            document = None
        if isinstance(document, dict) and len(document) == 1:
            (kind, body), = document.items()
            if kind == "error" and isinstance(body, dict):
                out.errors.append(body)
                continue
            if kind in ("warning", "note") and isinstance(body, dict) and isinstance(body.get("message"), str):
                (out.warnings if kind == "warning" else out.notes).append(body["message"])
                continue
        if line.strip():
            out.other.append(line)
    return out


def error_from(stderr: bytes | str, status: int, what: str, translate=lambda text: text) -> EmalogError:
    """The EmalogError for a run of emalog that exited with `status`: its error's message and
    kind, else whatever it wrote, else the status."""
    parsed = read_stderr(stderr)
    if parsed.errors:
        error = parsed.errors[-1]
        return EmalogError(translate(str(error.get("message", ""))), status, error.get("kind"))
    # No error line (emalog killed, or crashed): whatever it wrote, warnings included.
    text = "\n".join(parsed.other + [f"warning: {w}" for w in parsed.warnings]).strip()
    return EmalogError(translate(text) if text else f"{what} exited with {status}", status)


# The ingest flags the Logger passes, as its caller wrote them.
_LOGGER_ARGUMENTS = [
    ("pass --replace", "pass replace=True"), ("--replace", "replace=True"),
    ("pass --allow-nonfinite", "pass allow_nonfinite=True"), ("--allow-nonfinite", "allow_nonfinite=True"),
    ("--snapshot-every", "snapshot_every="), ("--keyframe-every", "keyframe_every="), ("--ema gives", "ema= gives"),
    ("(replace to overwrite)", "(replace=True to overwrite)"),
    ("remove the abandoned steps first (emalog truncate --after S)", "remove the abandoned steps first (resume_from=S)"),
]


def in_python_words(text: str) -> str:
    """emalog's message with the CLI flags the Logger passed named as the Logger's arguments."""
    for flag, argument in _LOGGER_ARGUMENTS:
        text = text.replace(flag, argument)
    return text


def run_json_lines(args: Sequence[str]) -> List[dict]:
    """Runs `emalog args` (a command printing one JSON object per line); returns the objects."""
    return [json.loads(line) for line in run(args).decode().splitlines() if line.strip()]


def run(args: Sequence[str]) -> bytes:
    """Runs `emalog args`; returns its stdout.

    Raises:
        EmalogError: emalog exited with an error (its message, exit code and kind).
    """
    return run_with_notes(args)[0]


def run_with_notes(args: Sequence[str]) -> "tuple[bytes, List[str]]":
    """Runs `emalog args`; returns its stdout and the notes it wrote on stderr (e.g. that a
    shadow was synthesised, with its fit error).

    Raises:
        EmalogError: emalog exited with an error (its message, exit code and kind).
    """
    done = subprocess.run([binary(), ERROR_FORMAT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise error_from(done.stderr, done.returncode, f"emalog {args[0]}")
    return done.stdout, read_stderr(done.stderr).notes
