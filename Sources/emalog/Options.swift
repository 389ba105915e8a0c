import ArgumentParser
import EMALogCore

/// `--db`: the log file.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The log file (SQLite).", valueName: "path"))
    var db: String
}

/// `--step`: a training step, the latest when left out.
struct StepOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Training step, an integer >= 0 (default: the latest).", valueName: "n"))
    var step: Int?

    func validate() throws {
        if let step, step < 0 { throw ValidationError("--step must be an integer >= 0, got \(step)") }
    }
}

/// `--ema` / `--decay`: which EMA a query wants.
struct TrackOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A track name, or a spec such as 0.999 or name=n,decay=0.9999,schedule=warmup,form=lerp "
            + "(a spec that matches no track is computed post hoc).", valueName: "name|spec"))
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

/// `--format` and `--dtype` of tensor outputs.
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("safetensors, npz or json (default: from the extension, else safetensors).", valueName: "format"))
    var format: OutputFormat?

    func format(for path: String) -> OutputFormat { format ?? OutputFormat.inferred(from: path) }
}

extension OutputFormat: ExpressibleByArgument {}
extension ShadowResult.Precision: ExpressibleByArgument {}
