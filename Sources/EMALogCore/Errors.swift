public import EMAKernel
public import EMALogFormats
public import EMALogStore

/// Why an ingest refused its input or stopped.
public enum IngestError: Error, Equatable, Sendable {
    case inputNotFound(path: String)
    case unreadable(path: String, reason: String)
    case badFile(path: String, SafetensorsError)
    case badMetricsLine(path: String, line: Int, MetricsError)
    case metricConflict(path: String, MetricConflict)
    case duplicateStep(step: Int, first: String, second: String)
    case olderStep(path: String, step: Int, latest: Int)
    case changedContent(path: String, step: Int, detail: String)
    case tensorSetChanged(path: String, step: Int, detail: String)
    /// A step's `emalog.shard` layout (which slice of the whole model a rank holds) that cannot
    /// be read, does not fit the step's tensors, or differs from the log's.
    case badShardLayout(path: String, step: Int, detail: String)
    case nonFinite(path: String, step: Int, tensor: String, index: Int, value: String)
    case trackConflict(name: String, stored: String, given: String)
    case noInputs
    /// An input at `path` is not a regular file; `kind` says what it is ("a FIFO", "a folder").
    case notRegularFile(path: String, kind: String)
    /// The file at `path` was truncated or rewritten while it was being read; `detail` says how.
    case changedWhileReading(path: String, detail: String)
    /// Chunk `chunk` of tensor `tensor` of step `step` read differently when it was stored than
    /// when the step was first read: the bytes changed in between (a file rewritten in place, or
    /// memory that emalog should have held unchanged: a defect). Nothing of the step is stored.
    case bytesChanged(path: String, step: Int, tensor: String, chunk: Int, isFile: Bool)
    /// A tensor name (`line` nil) or a metric key (at `line`) holds a NUL character.
    case nulInName(path: String, line: Int?, name: String)
    /// `ingest -`: record `record` (counted from 1) of the stream on stdin is not a step frame or a
    /// metrics line, or ends early.
    case badStream(record: Int, detail: String)
    /// A track added to a log whose retention policy left out raw steps: it would need every step.
    case trackNeedsRawSteps(name: String, lastStep: Int)
    /// `--raw-keep-last` without `--raw-every`, for a log without a retention policy.
    case keepLastWithoutPolicy
    /// A stored step given again whose raw weights were left out (retention): it cannot be
    /// compared or replaced; or a replacement that needs later raw steps that were left out.
    case rawNotKept(path: String, step: Int, detail: String)
    /// `ingest -` with shared memory: the trainer wrote slot `slot` again (generation `now`, not
    /// `read`) before emalog had released step `step`'s frame. Nothing of the step is stored.
    case slotWrittenAgain(path: String, step: Int, slot: Int, read: UInt64, now: UInt64)
}

extension IngestError: CustomStringConvertible {
    /// What was refused, where (file, line, step, tensor), and why; the CLI adds its flags.
    public var description: String {
        switch self {
        case let .inputNotFound(path):
            "\(path): no such file or folder"
        case let .unreadable(path, reason):
            "\(path): cannot read: \(reason)"
        case let .badFile(path, error):
            "\(path): \(error)"
        case let .badMetricsLine(path, line, error):
            "\(path):\(line): \(error)"
        case let .metricConflict(path, c):
            "\(path): step \(c.step) key '\(c.key)' is stored as \(c.stored), the file says \(c.new); metrics are stored once"
        case let .duplicateStep(step, first, second):
            "\(second): step \(step) is also given by \(first); keep one file per step"
        case let .olderStep(path, step, latest):
            "\(path): step \(step) is older than the log's latest step \(latest); EMA depends on order, so steps "
                + "must arrive in increasing order. Start a new log to ingest this run from its beginning"
        case let .changedContent(path, step, detail):
            "\(path): step \(step) is already stored with different content (\(detail))"
        case let .tensorSetChanged(path, step, detail):
            "\(path): step \(step): \(detail); every step of a log must hold the same tensors with the same "
                + "dtypes and shapes: start a new log for a different model"
        case let .badShardLayout(path, step, detail):
            "\(path): step \(step): its __metadata__[\"emalog.shard\"] (the slice of the model a rank holds): \(detail)"
        case let .nonFinite(path, step, tensor, index, value):
            "\(path): step \(step): tensor '\(tensor)' holds \(value) at index \(index); NaN/Inf would poison the EMA"
        case let .trackConflict(name, stored, given):
            "track '\(name)' is stored as \(stored) but the ingest gives \(given); use another name for a new profile"
        case .noInputs:
            "no input files: give safetensors files, folders of them, or metrics .jsonl files"
        case let .notRegularFile(path, kind):
            "\(path): is \(kind), not a regular file; inputs are read only from regular files: "
                + "remove it or move it out of the input folder (nothing of it was stored)"
        case let .changedWhileReading(path, detail):
            "\(path): changed while it was being read (\(detail)); nothing of it was stored: "
                + "re-run when the trainer has finished writing it (write step-N.safetensors.tmp and rename it)"
        case let .bytesChanged(path, step, tensor, chunk, isFile):
            "\(path): step \(step): chunk \(chunk) of tensor '\(tensor)' changed between the step's first read and its "
                + "storing; nothing of the step was stored"
                + (isFile ? ": was the file rewritten in place? write step-N.safetensors.tmp and rename it, then re-run"
                          : ": memory that should have held it unchanged did not (an emalog defect: please report it)")
        case let .nulInName(path, line, name):
            (line.map { "\(path):\($0): metric key" } ?? "\(path): tensor") + " \(JSONWriter.quoted(name)) contains "
                + "a NUL character (\\u0000); names must not contain NUL (SQLite and C tools cut them there): "
                + "rename it in the training script (nothing of this file was stored)"
        case let .badStream(record, detail):
            "stdin: record \(record): \(detail); the records before it are stored"
        case let .trackNeedsRawSteps(name, lastStep):
            "track '\(name)' cannot be added: a new track replays every step from the first, and the log's retention "
                + "policy left out raw steps before \(lastStep); compute it post hoc on a log that keeps every raw step"
        case .keepLastWithoutPolicy:
            "a number of last steps to keep needs a retention policy: give the interval of kept raw steps too"
        case let .rawNotKept(path, step, detail):
            "\(path): step \(step): \(detail)"
        case let .slotWrittenAgain(path, step, slot, read, now):
            "\(path): step \(step): the trainer wrote its shared-memory slot \(slot) again (generation \(now), the step "
                + "was generation \(read)) before emalog had released it; nothing of the step was stored (the Python "
                + "Logger never does this: another thread or process wrote that memory)"
        }
    }
}

/// Why a query could not be answered.
public enum QueryError: Error, Equatable, Sendable {
    case emptyLog(path: String)
    case stepNotFound(step: Int, below: Int?, above: Int?)
    case noTracks
    case ambiguousTrack(available: [String])
    case unknownTrack(String, reason: String, available: [String])
    case invalidSpec(EMASpecError)
    case outputFailed(path: String, reason: String)
    /// An allocation of `bytes` for `what` failed.
    case outOfMemory(what: String, bytes: Int)
    /// The output path names the log, its `-wal`, `-shm` or `-journal` (`logFile`), by any spelling.
    case outputIsLog(path: String, logFile: String)
    /// The output path has an extension that is not a format, and no format was given.
    case unknownOutputExtension(path: String, extension: String)
    /// The path of a one-file output is a folder.
    case outputIsFolder(path: String)
    /// The path of a several-file output (sweep) exists and is not a folder.
    case outputNotAFolder(path: String)
    /// A system call on the output failed: `action` (open, write, sync, rename...), errno `code`.
    case outputIO(path: String, action: String, code: Int32, reason: String)
    /// The output does not fit its format (npz: 32-bit zip sizes).
    case outputTooLarge(path: String, reason: String)
    /// A binary format written to stdout while stdout is a terminal.
    case binaryToTerminal(format: String)
    /// A tensor the log does not have (or that is not floating, where one is needed).
    case unknownTensor(String, available: [String])
    /// A picture or page whose file name does not end in one of the extensions it is written as.
    case wrongDocumentExtension(path: String, expected: [String])
    /// An EMA to draw whose name is already another EMA's (`spec`), with another profile.
    case trackNameTaken(String, spec: String)
    /// Metric curves asked of logs that hold none.
    case noMetrics(paths: [String])
    /// A pull's target exists: a pull writes a new log.
    case pullTargetExists(path: String)
    /// A pull stopped by a signal (or its stop token) before the end: nothing was written.
    case pullStopped(path: String)
    /// A use case that reads one log, asked of sharded run `name`.
    case shardedRun(name: String, ranks: Int, what: String)
    /// The ranks of sharded run `name` do not fit together.
    case shardsDisagree(name: String, detail: String)
    /// A folder given as a log that holds no rank logs (`rank-RRRRR.emalog`).
    case notRankFolder(path: String)
    /// A step named by a pin the log does not have; `pins` are the names it has.
    case unknownPin(String, pins: [String])
    /// A truncation after `step` that would remove pinned steps (`pins`).
    case pinnedAfterTruncation(step: Int, pins: [String])
    /// A pin's name that cannot be one (`StoredText.nameProblem`), or that reads as a step number.
    case invalidPinName(String, reason: String)
    /// An answer that needs raw weights the log's retention policy left out: `what` needs them,
    /// `missing` is the first step without them; `below`/`above` the nearest steps where the same
    /// question can be answered.
    /// `what` nil: the step's own raw weights were asked for.
    case rawNotKept(what: String?, missing: Int, below: Int?, above: Int?)
    /// A post-hoc synthesis (EDM2) that the log's snapshots cannot make: `reason` says why.
    case cannotSynthesize(reason: String)
}

extension QueryError: CustomStringConvertible {
    /// What could not be answered or written, and where; the CLI adds its flags and commands.
    public var description: String {
        switch self {
        case let .emptyLog(path):
            "\(path) holds no steps yet"
        case let .stepNotFound(step, below, above):
            "step \(step) is not in the log; " + [below.map { "the nearest before is \($0)" }, above.map { "the nearest after is \($0)" }]
                .compactMap { $0 }.joined(separator: ", ")
        case .noTracks:
            "the log has no EMA tracks"
        case let .ambiguousTrack(available):
            "the log has several tracks (\(available.joined(separator: ", ")))"
        case let .unknownTrack(text, reason, available):
            "no track named '\(text)' and it is not a valid spec (\(reason)); tracks: "
                + (available.isEmpty ? "none" : available.joined(separator: ", "))
        case let .invalidSpec(error):
            "\(error)"
        case let .shardedRun(name, ranks, what):
            "'\(name)' is a sharded training over \(ranks) ranks, read whole by shadow, sweep, raw, info, verify, audit, plot "
                + "and report; \(what) reads one rank's log: rank-00000.emalog in its folder, or run '\(name)/rank0' on a team store"
        case let .shardsDisagree(name, detail):
            "the ranks of sharded run '\(name)' do not fit together: \(detail)"
        case let .notRankFolder(path):
            "\(path) is a folder that holds no rank logs (rank-00000.emalog, ...): a log is a file, and a folder is the "
                + "logs of a sharded training, one per rank"
        case let .pullTargetExists(path):
            "\(path) exists: a pull writes a new log file, never over another"
        case let .unknownPin(name, pins):
            "no step is pinned as '\(name.prefix(200))'; pins: " + (pins.isEmpty ? "none" : pins.prefix(20).joined(separator: ", "))
        case let .pinnedAfterTruncation(step, pins):
            "steps after \(step) are pinned (\(pins.prefix(20).joined(separator: ", "))): a truncation keeps every pinned step"
        case let .invalidPinName(name, reason):
            "'\(name.prefix(200))' cannot name a pin: \(reason)"
        case let .rawNotKept(what, missing, below, above):
            (what.map { "\($0) needs the raw weights of step \(missing), which the log's retention policy left out; " }
                ?? "the raw weights of step \(missing) were left out by the log's retention policy; ")
                + (below == nil && above == nil ? "no step of the log can answer it"
                    : "steps that can answer it: " + [below.map { "the nearest before is \($0)" }, above.map { "the nearest after is \($0)" }]
                        .compactMap { $0 }.joined(separator: ", "))
        case let .cannotSynthesize(reason):
            "no post-hoc synthesis possible: \(reason)"
        case let .pullStopped(path):
            "the pull into \(path) was stopped before the end; nothing was written (run it again to pull the run)"
        case let .outputFailed(path, reason):
            "cannot write \(path): \(reason)"
        case let .outOfMemory(what, bytes):
            "not enough memory for \(what): \(bytes) bytes; run on a machine with more memory"
        case let .outputIsLog(path, logFile):
            "refusing to write \(path): it is the log's file \(logFile), which the output would destroy"
        case let .unknownOutputExtension(_, ext):
            "unknown output extension '\(ext)': use .safetensors, .npz or .json"
        case let .outputIsFolder(path):
            "cannot write \(path): it is a folder; give a file name such as \(path.hasSuffix("/") ? path : path + "/")ema.safetensors"
        case let .outputNotAFolder(path):
            "cannot write into \(path): it exists and is not a folder"
        case let .outputIO(path, action, _, reason):
            "cannot write \(path): \(action) failed: \(reason)"
        case let .outputTooLarge(path, reason):
            "cannot write \(path) as npz: \(reason); a plain zip holds at most 4 GiB and 65535 files: use safetensors"
        case let .binaryToTerminal(format):
            "refusing to write \(format) bytes to a terminal"
        case let .unknownTensor(name, available):
            "no floating tensor named '\(name.prefix(200))' in the log; floating tensors: "
                + (available.isEmpty ? "none" : available.prefix(20).joined(separator: ", ") + (available.count > 20 ? ", ..." : ""))
        case let .trackNameTaken(name, spec):
            "the name '\(name)' is already the EMA \(spec); give the new one another name"
        case let .noMetrics(paths):
            "\(paths.joined(separator: ", ")) hold\(paths.count == 1 ? "s" : "") no metrics"
        case let .wrongDocumentExtension(path, expected):
            "cannot write \(path): this output is \(expected[0].uppercased()); name the file ."
                + expected.joined(separator: " or .") + ", or give - for stdout"
        }
    }
}

/// A metrics key the log does not have.
public struct UnknownMetricKey: Error, Equatable, Sendable, CustomStringConvertible {
    public var key: String
    public var available: [String]

    public init(key: String, available: [String]) {
        self.key = key
        self.available = available
    }

    public var description: String {
        "no metric named '\(key)' in the log; keys: " + (available.isEmpty ? "none" : available.joined(separator: ", "))
    }
}

/// Why `verify` could not start.
public enum VerifyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A search for the spec of a checkpoint has no decay to try: none given, none in its metadata.
    case noDecayToTry(path: String)

    public var description: String {
        switch self {
        case let .noDecayToTry(path):
            "\(path): no decay to try: its metadata has no 'decay', 'ema_decay' or 'beta'"
        }
    }
}
