#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogCore
import EMALogFormats
import EMALogStore

/// How the CLI words an error: the layer's description (what happened, where), followed by the
/// flags or commands that fix it when there are some.
func message(for error: any Error) -> String {
    switch error {
    case let error as IngestError: message(for: error)
    case let error as QueryError: message(for: error)
    case let error as StoreError: message(for: error)
    case let error as SafetensorsError: message(for: error)
    case let error as VerifyError: "\(error); give one with --decay D"
    default: "\(error)"
    }
}

private func message(for error: IngestError) -> String {
    switch error {
    case let .badFile(path, rule):
        "\(path): " + message(for: rule)
    case .metricConflict:
        "\(error): pass --replace to overwrite (nothing of this file was stored)"
    case .changedContent:
        "\(error); pass --replace to overwrite it (later snapshots are re-derived), or, for a training resumed from an "
            + "earlier checkpoint at step S, remove the abandoned steps first (emalog truncate --after S)"
    case .nonFinite:
        "\(error). Fix the run, or pass --allow-nonfinite to store it anyway"
    case let .trackConflict(name, stored, given):
        "track '\(name)' is stored as \(stored) but --ema gives \(given); use another name for a new profile"
    case .keepLastWithoutPolicy:
        "--raw-keep-last needs --raw-every (the log has no retention policy yet)"
    default:
        "\(error)"
    }
}

private func message(for error: QueryError) -> String {
    switch error {
    case let .emptyLog(path):
        "\(error): ingest some with `emalog ingest --db \(path) steps/`"
    case .stepNotFound:
        "\(error); `emalog info` lists the range"
    case .rawNotKept:
        "\(error) (`emalog info` shows what the log keeps; a tracked EMA reads from its snapshots)"
    case .pinnedAfterTruncation:
        "\(error); remove those pins first (`emalog pin --remove NAME`), or truncate after a later step"
    case .unknownPin:
        "\(error) (`emalog pins` lists them; `emalog pin --step S --name NAME` adds one)"
    case .noTracks:
        "\(error): pass --decay D or --ema SPEC for a post-hoc shadow"
    case .ambiguousTrack:
        "\(error): choose one with --ema NAME"
    case .outputIsLog:
        "\(error); choose another -o"
    case .unknownOutputExtension:
        "\(error), or pass --format"
    case .outputNotAFolder:
        "\(error); sweep writes one file per EMA into the folder -o names (created if missing): choose a folder"
    case let .outputIO(_, _, code, _):
        "\(error)" + outputHint(errno: code)
    case .noMetrics:
        "\(error): draw --tracks instead, or ingest a metrics file (emalog ingest --db LOG metrics.jsonl)"
    case .binaryToTerminal:
        "\(error): redirect stdout (> file, | command), give -o a file, or pass --format json"
    default:
        "\(error)"
    }
}

private func message(for error: StoreError) -> String {
    switch error {
    case let .logNotFound(path):
        "\(error): check the --db path, or create one with `emalog ingest --db \(path) ...`"
    case let .busy(path):
        "\(path) is being written by another `emalog ingest`; wait for it to finish (readers may run meanwhile)"
    case let .olderSchema(path):
        "\(path) is not a usable emalog log (its schema is older than this emalog; run `emalog ingest` on it once "
            + "to upgrade it); it was left untouched"
    case .checksumMismatch:
        "\(error); run `emalog audit` for a full report"
    case .inconsistent:
        "\(error); run `emalog audit`"
    case .foreignSchema:
        "\(error); `emalog audit` lists every difference"
    case let .runNotFound(address, _, _):
        "\(error). Give --run NAME (`emalog runs --db \(address)` lists them)"
    default:
        "\(error)"
    }
}

private func message(for error: SafetensorsError) -> String {
    switch error {
    case .truncated: "\(error) Re-save it, or use --follow for a directory training is still writing"
    default: "\(error)"
    }
}

/// What to do when a system call on the output fails with `code`.
private func outputHint(errno code: Int32) -> String {
    switch code {
    case ENOSPC, EDQUOT: "; the disk is full: free space or choose another -o"
    case EACCES, EPERM: "; permission denied: choose a file and folder you can write"
    case EROFS: "; the file system is read-only: choose another -o"
    case EFBIG: "; the file size limit (ulimit -f) is too small for this output"
    default: ""
    }
}
