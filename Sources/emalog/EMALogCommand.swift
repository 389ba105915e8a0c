import ArgumentParser
import EMALogCore

@main
struct EMALogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emalog",
        abstract: "An experiment log for training runs with exact, auditable EMA weights.",
        discussion: """
            Ingest each step's safetensors and metrics into one SQLite log, keep EMA shadow weights \
            incrementally, and get shadow or raw weights back at any step.

            Exit codes: 0 ok, 1 audit or verify mismatch, 64 usage, 65 bad input or missing step, 66 missing \
            file, 74 I/O or database, 75 log busy, 70 anything else. With --error-format json (any command), \
            errors and warnings go to stderr as JSON lines: {"error":{"message":...,"exit_code":66,"kind":"not_found"}}.

            Shell completion: emalog --generate-completion-script bash (or zsh, fish) prints a \
            script to source or install; see README.

            Example:
              emalog ingest --db run.emalog --ema 0.999 steps/ metrics.jsonl
            """,
        version: EMALogCore.version,
        subcommands: [IngestCommand.self, ShadowCommand.self, RawCommand.self, SweepCommand.self, MetricsCommand.self, InfoCommand.self, AuditCommand.self, VerifyCommand.self,
                      PlotCommand.self, ReportCommand.self, RunsCommand.self, PushCommand.self, PullCommand.self, PinCommand.self, PinsCommand.self, TruncateCommand.self, PruneCommand.self, GCCommand.self])

    static func main() {
        ProcessTuning.tuneAllocator()
        if CommandLine.arguments.contains(where: TeamStore.hasPassword) {
            printError("warning: a password in a server address is visible to every user of this machine (ps, /proc); "
                + "give it in PGPASSWORD or ~/.pgpass (hostname:port:database:username:password, mode 0600) instead")
        }
        let (arguments, _, invalid) = ErrorOutput.split(CommandLine.arguments.dropFirst())
        if let invalid {
            printError("error: --error-format takes text or json" + (invalid.isEmpty ? "" : ", not '\(invalid)'"),
                       exitCode: ExitCode.validationFailure.rawValue)
            exit(withError: ExitCode.validationFailure)
        }
        guard ErrorOutput.isJSON else { return main(arguments) }
        // As `main(_:)` does, with usage errors as JSON too (help and --version print as usual).
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let code as ExitCode {
            exit(withError: code)  // the command printed its error already
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            printError("error: \(message(for: error))", exitCode: code.rawValue)
            exit(withError: ExitCode(code.rawValue))
        }
    }
}
