public import ArgumentParser
import EMALogCore
import EMALogStore

/// `--db`: the log file, or a team store with `--run`.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The log file (SQLite), or a team store postgresql://USER@HOST:PORT/DATABASE with --run.",
                                            valueName: "log"))
    var db: String

    @Option(help: ArgumentHelp("The run to read when --db is a team store (emalog runs lists them).", valueName: "name"))
    var run: String?

    func validate() throws {
        if run != nil && !TeamStore.isServer(db) {
            throw ValidationError("--run names a run of a team store (--db postgresql://...); --db \(db) is a log file, one run")
        }
    }
}

/// `--step`: a training step, or a pin's name (`emalog pin`); the latest when left out.
struct StepOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Training step, an integer >= 0, or a pin's name (default: the latest).", valueName: "n"))
    var step: StepArgument?

    func validate() throws { try step?.check("--step") }

    /// The step asked for, as the log names it.
    var selector: StepSelector? { step?.selector }
}

/// A `--step` value: a number, or a pin's name.
struct StepArgument: ExpressibleByArgument {
    var selector: StepSelector

    init?(argument: String) {
        guard !argument.isEmpty else { return nil }
        selector = StepSelector(parsing: argument)
    }

    /// A number must be a step (>= 0); `flag` names the option in the message.
    func check(_ flag: String) throws {
        if case let .number(step) = selector, step < 0 { throw ValidationError("\(flag) must be an integer >= 0, got \(step)") }
    }
}

/// `--ema` / `--decay`: which EMA a query wants.
struct TrackOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A track name, or a spec such as 0.999 or name=n,decay=0.9999,schedule=warmup,form=lerp "
            + "(a spec that matches no track is computed post hoc).", valueName: "spec"))
    var ema: String?

    @Option(help: ArgumentHelp("Short for --ema D: a constant decay.", valueName: "D"))
    var decay: Double?

    func validate() throws {
        if ema != nil && decay != nil { throw ValidationError("give --ema or --decay, not both") }
        if let decay, !(decay >= 0 && decay < 1) { throw ValidationError("--decay must be in [0, 1), got \(decay)") }
    }

    var selector: EMALog.TrackSelector {
        if let ema { return .nameOrSpec(ema) }
        if let decay { return .decay(decay) }
        return .only
    }
}

/// `--format` of tensor outputs (its values are listed by the parser).
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Output format (default: from the extension of -o; safetensors when it has none).",
                               valueName: "format"))
    var format: OutputFormat?
}

/// `--dtype` of shadow outputs.
struct PrecisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Floating tensors as f32 (the shadow's own precision) or as param (each parameter's "
        + "own dtype, rounded to nearest even).", valueName: "dtype"))
    var dtype: ShadowResult.Precision = .f32
}

/// What `-o` does, for the discussions of the commands that write tensors.
enum OutputHelp {
    static let file = """
        -o - writes to stdout. A regular file is replaced atomically (a temporary file beside it, then a \
        rename), so a reader never sees half a file; a symbolic link is written through (the file it \
        points to is replaced, the link kept; a link to a missing file is refused); a FIFO or device \
        such as /dev/null is written in place. An extension other than .safetensors, .npz or .json \
        needs --format; no extension means safetensors. -o never overwrites the log or its -wal/-shm \
        (exit 64); a folder is refused (exit 74).
        """
}

extension OutputFormat: ExpressibleByArgument {}
extension ShadowResult.Precision: ExpressibleByArgument {}

/// `--raw-every K [--raw-keep-last N]`: which raw steps a log keeps (ingest, prune).
struct RetentionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Keep the raw weights of every K-th step only (and of the first, the last N and pinned "
        + "steps); every step still updates every track. Recorded in the log: later ingests follow it.", valueName: "K"))
    var rawEvery: Int?

    @Option(help: ArgumentHelp("With --raw-every: also keep the raw weights of the last N steps (default 0).", valueName: "N"))
    var rawKeepLast: Int?

    func validate() throws {
        if let rawEvery, !(1...RetentionPolicy.largest).contains(rawEvery) {
            throw ValidationError("--raw-every must be an integer from 1 to \(RetentionPolicy.largest), not \(rawEvery)")
        }
        if let rawKeepLast, !(0...RetentionPolicy.largest).contains(rawKeepLast) {
            throw ValidationError("--raw-keep-last must be an integer from 0 to \(RetentionPolicy.largest), not \(rawKeepLast)")
        }
    }
}
