import EMAKernel
import EMALogCore
import EMALogFormats
import EMALogStore
import EMALogSQLite
@testable import emalog
import GRDB
import Testing

/// The CLI's side of errors, in process: the exit status of every error case, and the wording that
/// adds flags and commands to the layers' descriptions (the texts are those the layers printed
/// before the wording moved to the CLI, word for word).
/// The CLI's exit status (Swift Testing has an `ExitStatus` of its own).
typealias CLIExit = emalog.ExitStatus

@Suite struct ErrorReportingTests {
    static let conflict = MetricConflict(step: 3, key: "loss", stored: 0.5, new: 0.25)
    static let specError: EMASpecError = {
        guard case let .failure(error) = Result(catching: { () throws(EMASpecError) in try EMASpec(parsing: "fast") }) else {
            fatalError("'fast' parsed as a spec")
        }
        return error
    }()

    static let ingestErrors: [(IngestError, CLIExit)] = [
        (.inputNotFound(path: "x"), .notFound),
        (.unreadable(path: "x", reason: "Permission denied"), .io),
        (.badFile(path: "x", .trailingBytes(count: 3)), .badInput),
        (.badMetricsLine(path: "m.jsonl", line: 2, .missingStep), .badInput),
        (.metricConflict(path: "m.jsonl", conflict), .badInput),
        (.duplicateStep(step: 4, first: "a", second: "b"), .badInput),
        (.olderStep(path: "x", step: 3, latest: 9), .badInput),
        (.changedContent(path: "x", step: 5, detail: "tensor 'w' differs"), .badInput),
        (.tensorSetChanged(path: "x", step: 5, detail: "tensor 'w' is new"), .badInput),
        (.nonFinite(path: "x", step: 5, tensor: "w", index: 3, value: "NaN"), .badInput),
        (.trackConflict(name: "slow", stored: "decay=0.9", given: "decay=0.99"), .usage),
        (.noInputs, .usage),
        (.notRegularFile(path: "x", kind: "a FIFO"), .badInput),
        (.changedWhileReading(path: "x", detail: "it shrank"), .badInput),
        (.nulInName(path: "x", line: nil, name: "a\u{0}b"), .badInput),
    ]

    static let queryErrors: [(QueryError, CLIExit)] = [
        (.emptyLog(path: "run.emalog"), .badInput),
        (.stepNotFound(step: 7, below: 5, above: 10), .badInput),
        (.noTracks, .usage),
        (.ambiguousTrack(available: ["a", "b"]), .usage),
        (.unknownTrack("fast", reason: "bad", available: []), .usage),
        (.invalidSpec(specError), .usage),
        (.outputFailed(path: "o", reason: "bad"), .io),
        (.outOfMemory(what: "w", bytes: 8), .io),
        (.outputIsLog(path: "o", logFile: "run.emalog-wal"), .usage),
        (.unknownOutputExtension(path: "x.pt", extension: ".pt"), .usage),
        (.outputIsFolder(path: "d"), .io),
        (.outputNotAFolder(path: "f"), .io),
        (.outputIO(path: "o", action: "write", code: 28, reason: "No space left on device"), .io),
        (.outputTooLarge(path: "o", reason: "70000 tensors"), .io),
        (.binaryToTerminal(format: "safetensors"), .usage),
    ]

    static let storeErrors: [(StoreError, CLIExit)] = [
        (.logNotFound(path: "r"), .notFound),
        (.notALog(path: "r", reason: "not a database"), .io),
        (.newerSchema(path: "r", unknown: ["0099_x"]), .io),
        (.busy(path: "r"), .busy),
        (.checksumMismatch(what: "chunk 0"), .io),
        (.database(path: "r", code: BackendCode(sqlite: .SQLITE_FULL), message: "database or disk is full"), .io),
        (.database(path: "r", code: BackendCode(sqlite: .SQLITE_BUSY), message: "database is locked"), .busy),
        (.database(path: "r", code: BackendCode(sqlite: .SQLITE_LOCKED), message: "database table is locked"), .busy),
        (.database(path: "r", code: BackendCode(sqlite: ResultCode(rawValue: 517)), message: "snapshot"), .busy),  // SQLITE_BUSY_SNAPSHOT
        (.inconsistent("a bad row"), .io),
        (.foreignSchema(path: "r", objects: ["trigger 't'"]), .io),
        (.olderSchema(path: "r"), .io),
    ]

    @Test func everyErrorCaseHasItsExitStatus() {
        for (error, status) in Self.ingestErrors { #expect(CLIExit(for: error) == status, "\(error)") }
        for (error, status) in Self.queryErrors { #expect(CLIExit(for: error) == status, "\(error)") }
        for (error, status) in Self.storeErrors { #expect(CLIExit(for: error) == status, "\(error)") }
        #expect(CLIExit(for: UnknownMetricKey(key: "k", available: [])) == .badInput)
        #expect(CLIExit(for: Self.specError) == .usage)
        #expect(CLIExit(for: SafetensorsError.headerNotUTF8) == .software)
        #expect(CLIExit(for: CancellationError()) == .software)
        #expect([CLIExit.success, .auditMismatch, .usage, .badInput, .notFound, .software, .io, .busy].map(\.rawValue)
            == [0, 1, 64, 65, 66, 70, 74, 75])
    }

    /// Each error with the words the CLI prints for it.
    static let messages: [(any Error, String)] = [
        (IngestError.metricConflict(path: "m.jsonl", conflict),
         "m.jsonl: step 3 key 'loss' is stored as 0.5, the file says 0.25; metrics are stored once: pass --replace to "
            + "overwrite (nothing of this file was stored)"),
        (IngestError.changedContent(path: "s", step: 5, detail: "tensor 'w' differs"),
         "s: step 5 is already stored with different content (tensor 'w' differs); pass --replace to overwrite it "
            + "(later snapshots are re-derived), or, for a training resumed from an earlier checkpoint at step S, remove the "
            + "abandoned steps first (emalog truncate --after S)"),
        (IngestError.nonFinite(path: "s", step: 5, tensor: "w", index: 3, value: "NaN"),
         "s: step 5: tensor 'w' holds NaN at index 3; NaN/Inf would poison the EMA. Fix the run, or pass "
            + "--allow-nonfinite to store it anyway"),
        (IngestError.trackConflict(name: "slow", stored: "decay=0.9", given: "decay=0.99"),
         "track 'slow' is stored as decay=0.9 but --ema gives decay=0.99; use another name for a new profile"),
        (IngestError.badFile(path: "s", .truncated(offset: 10, needed: 20)),
         "s: file is truncated: needed 20 more bytes at offset 10; was it still being written? Re-save it, or use "
            + "--follow for a directory training is still writing"),
        (IngestError.badFile(path: "s", .trailingBytes(count: 3)),
         "s: 3 bytes follow the last tensor: the file is corrupt or was appended to"),
        (QueryError.emptyLog(path: "run.emalog"),
         "run.emalog holds no steps yet: ingest some with `emalog ingest --db run.emalog steps/`"),
        (QueryError.stepNotFound(step: 7, below: 5, above: 10),
         "step 7 is not in the log; the nearest before is 5, the nearest after is 10; `emalog info` lists the range"),
        (QueryError.stepNotFound(step: 7, below: nil, above: 10),
         "step 7 is not in the log; the nearest after is 10; `emalog info` lists the range"),
        (QueryError.noTracks, "the log has no EMA tracks: pass --decay D or --ema SPEC for a post-hoc shadow"),
        (QueryError.ambiguousTrack(available: ["a", "b"]), "the log has several tracks (a, b): choose one with --ema NAME"),
        (QueryError.outputIsLog(path: "o", logFile: "run.emalog-wal"),
         "refusing to write o: it is the log's file run.emalog-wal, which the output would destroy; choose another -o"),
        (QueryError.unknownOutputExtension(path: "x.pt", extension: ".pt"),
         "unknown output extension '.pt': use .safetensors, .npz or .json, or pass --format"),
        (QueryError.outputNotAFolder(path: "f"),
         "cannot write into f: it exists and is not a folder; sweep writes one file per EMA into the folder -o names "
            + "(created if missing): choose a folder"),
        (QueryError.outputIO(path: "o", action: "write", code: 28, reason: "No space left on device"),
         "cannot write o: write failed: No space left on device; the disk is full: free space or choose another -o"),
        (QueryError.outputIO(path: "o", action: "open", code: 13, reason: "Permission denied"),
         "cannot write o: open failed: Permission denied; permission denied: choose a file and folder you can write"),
        (QueryError.outputIO(path: "o", action: "rename", code: 30, reason: "Read-only file system"),
         "cannot write o: rename failed: Read-only file system; the file system is read-only: choose another -o"),
        (QueryError.outputIO(path: "o", action: "write", code: 27, reason: "File too large"),
         "cannot write o: write failed: File too large; the file size limit (ulimit -f) is too small for this output"),
        (QueryError.outputIO(path: "o", action: "sync", code: 5, reason: "Input/output error"),
         "cannot write o: sync failed: Input/output error"),
        (QueryError.binaryToTerminal(format: "safetensors"),
         "refusing to write safetensors bytes to a terminal: redirect stdout (> file, | command), give -o a file, "
            + "or pass --format json"),
        (StoreError.logNotFound(path: "r"), "no log at r: check the --db path, or create one with `emalog ingest --db r ...`"),
        (StoreError.busy(path: "r"),
         "r is being written by another `emalog ingest`; wait for it to finish (readers may run meanwhile)"),
        (StoreError.checksumMismatch(what: "chunk 0"),
         "checksum mismatch in chunk 0: the log is damaged; run `emalog audit` for a full report"),
        (StoreError.inconsistent("a bad row"), "the log is inconsistent: a bad row; run `emalog audit`"),
        (StoreError.foreignSchema(path: "r", objects: ["trigger 't'"]), "r holds a schema emalog did not write: trigger 't'. "
            + "A log is data, never code: it was not read and left untouched; `emalog audit` lists every difference"),
        (StoreError.olderSchema(path: "r"), "r is not a usable emalog log (its schema is older than this emalog; run "
            + "`emalog ingest` on it once to upgrade it); it was left untouched"),
        (StoreError.database(path: "r", code: BackendCode(sqlite: .SQLITE_FULL), message: "database or disk is full"),
         "r: database or disk is full (SQLite error 13); the disk is full: free space and run the same command again "
            + "(what was committed is kept)"),
        (StoreError.database(path: "r", code: BackendCode(sqlite: ResultCode(rawValue: 517)), message: "snapshot"),
         "r: snapshot (SQLite error 517); the log is locked by another process: retry"),
        (StoreError.database(path: "r", code: BackendCode(sqlite: .SQLITE_READONLY), message: "cannot read the log file"),
         "r: cannot read the log file (SQLite error 8); the log or its folder is read-only: copy it somewhere writable"),
        (StoreError.database(path: "r", code: BackendCode(sqlite: .SQLITE_CANTOPEN), message: "cannot reach the log file"),
         "r: cannot reach the log file (SQLite error 14); check the disk and the path's permissions"),
        (StoreError.database(path: "r", code: BackendCode(sqlite: .SQLITE_ERROR), message: "boom"), "r: boom (SQLite error 1)"),
        (UnknownMetricKey(key: "acc", available: ["loss"]), "no metric named 'acc' in the log; keys: loss"),
    ]

    @Test func theCLIWordsErrorsAsBefore() {
        for (error, text) in Self.messages { #expect(message(for: error) == text) }
    }

    /// What the layers say on their own names no flag and no command of the CLI.
    @Test func theLayersDescriptionsNameNoFlag() {
        let errors: [any Error] = Self.ingestErrors.map(\.0) + Self.queryErrors.map(\.0) + Self.storeErrors.map(\.0)
            + [SafetensorsError.truncated(offset: 1, needed: 2), UnknownMetricKey(key: "k", available: [])]
        for error in errors {
            let text = "\(error)"
            #expect(!text.contains("--") && !text.contains("-o") && !text.contains("`emalog"), "\(text)")
        }
    }
}
