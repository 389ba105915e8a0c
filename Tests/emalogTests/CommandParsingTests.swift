import ArgumentParser
import EMALogCore
import EMALogFormats
import EMALogStore
@testable import emalog
import EMALogTestSupport
import Foundation
import Testing

/// The commands in process, without spawning the binary: what the parser makes of a command line,
/// the refusals of `validate()` (exit 64 with the flag named), how a failure becomes its exit code,
/// and the text and JSON renderers.
@Suite struct CommandParsingTests {
    /// Parses `arguments` as the root command would and returns the subcommand.
    func parse<Command: ParsableCommand>(_ arguments: [String], as _: Command.Type) throws -> Command {
        let parsed = try EMALogCommand.parseAsRoot(arguments)
        return try #require(parsed as? Command, "\(arguments) parsed as \(type(of: parsed))")
    }

    @Test func ingestTakesItsFlagsAndInputs() async throws {
        let ingest = try parse(["ingest", "--db", "run.emalog", "--ema", "0.999", "--ema", "name=w,decay=0.99,schedule=warmup",
                                "--snapshot-every", "10", "--follow", "--poll-interval", "0.5", "--replace",
                                "--allow-nonfinite", "steps/", "metrics.jsonl"], as: EMALogCommand.IngestCommand.self)
        #expect(ingest.log.db == "run.emalog")
        #expect(ingest.ema == ["0.999", "name=w,decay=0.99,schedule=warmup"])
        #expect(ingest.snapshotEvery == 10 && ingest.keyframeEvery == 32)
        #expect(ingest.follow && ingest.replace && ingest.allowNonfinite)
        #expect(ingest.pollInterval == 0.5)
        #expect(ingest.inputs == ["steps/", "metrics.jsonl"])
    }

    @Test func queriesSelectTheirTrack() async throws {
        #expect(try parse(["shadow", "--db", "r", "-o", "x"], as: EMALogCommand.ShadowCommand.self).track.selector == .only)
        #expect(try parse(["shadow", "--db", "r", "--ema", "slow", "-o", "x"], as: EMALogCommand.ShadowCommand.self).track.selector
            == .nameOrSpec("slow"))
        let shadow = try parse(["shadow", "--db", "r", "--step", "20", "--decay", "0.9", "--dtype", "param", "--format", "npz",
                                "-o", "-"], as: EMALogCommand.ShadowCommand.self)
        #expect(shadow.track.selector == .decay(0.9))
        #expect(shadow.step.selector == .number(20) && shadow.precision.dtype == .param && shadow.output.format == .npz && shadow.out == "-")
        let sweep = try parse(["sweep", "--db", "r", "--decays", "0.9,0.99", "--ema", "name=w,decay=0.999", "-o", "d"],
                              as: EMALogCommand.SweepCommand.self)
        #expect(try sweep.specs().map(\.name) == ["w", "ema-0.9", "ema-0.99"])
    }

    static let refusals: [([String], String)] = [
        (["ingest", "--db", "r", "--poll-interval", "0", "s"], "--poll-interval must be a number of seconds from 0.001 to 3600, not 0.0"),
        (["ingest", "--db", "r", "--poll-interval", "nan", "s"], "--poll-interval must be a number of seconds from 0.001 to 3600, not nan"),
        (["ingest", "--db", "r", "--snapshot-every", "0", "s"], "--snapshot-every must be > 0"),
        (["ingest", "--db", "r", "--keyframe-every", "0", "s"], "--keyframe-every must be > 0"),
        (["ingest", "--db", "r", "--chunk-bytes", "100", "s"], "--chunk-bytes must be a positive multiple of 8, at most 64 MiB"),
        (["ingest", "--db", "r"], "give at least one input: safetensors files, folders, metrics .jsonl"),
        (["ingest", "--db", "r", "--ema", "fast", "s"], "--ema: invalid EMA spec 'fast': expected a decay such as 0.999"),
        (["ingest", "--db", "r", "--ema", "name=a,decay=0.9", "--ema", "name=a,decay=0.99", "s"],
         "--ema name=a,decay=0.9 and --ema name=a,decay=0.99 clash: both name track 'a' but give different profiles "
            + "(decay=0.9,schedule=constant,per=update,form=seed vs decay=0.99,schedule=constant,per=update,form=seed)"),
        (["shadow", "--db", "r", "--step=-1", "-o", "x"], "--step must be an integer >= 0, got -1"),
        (["raw", "--db", "r", "--step=-3", "-o", "x"], "--step must be an integer >= 0, got -3"),
        (["shadow", "--db", "r", "--ema", "a", "--decay", "0.9", "-o", "x"], "give --ema or --decay, not both"),
        (["shadow", "--db", "r", "--decay", "1", "-o", "x"], "--decay must be in [0, 1), got 1.0"),
        (["metrics", "--db", "r", "--from=-1"], "--from must be a step >= 0, got -1"),
        (["metrics", "--db", "r", "--from", "5", "--to", "3"], "--from 5 is after --to 3"),
        (["sweep", "--db", "r", "-o", "d"], "give --decays a,b,c, --sigma-rels a,b,c or --ema SPEC"),
        (["sweep", "--db", "r", "--decays", "0.9", "-o", "-"], "-o - is stdout, but sweep writes one file per EMA: give -o a folder"),
        (["sweep", "--db", "r", "--decays", "0.9,0.9", "-o", "d"], "two EMAs share a name: give each a name="),
    ]

    @Test func validateRefusesWithTheFlagNamedAndExit64() {
        for (arguments, text) in Self.refusals {
            do {
                _ = try EMALogCommand.parseAsRoot(arguments)
                Issue.record("\(arguments) parsed")
            } catch {
                #expect(EMALogCommand.message(for: error).contains(text), "\(arguments): \(EMALogCommand.message(for: error))")
                #expect(EMALogCommand.exitCode(for: error).rawValue == 64, "\(arguments)")
            }
        }
    }

    @Test func aFailureBecomesItsExitCode() {
        let cases: [(any Error, Int32)] = [(StoreError.logNotFound(path: "r"), 66), (StoreError.busy(path: "r"), 75),
                                           (QueryError.stepNotFound(step: 3, below: 2, above: nil), 65),
                                           (QueryError.outputIsLog(path: "r", logFile: "r"), 64), (CocoaError(.fileReadUnknown), 70)]
        for (error, code) in cases {
            #expect(throws: ExitCode(code)) { try reportingErrors { throw error } }
        }
        #expect(throws: ExitCode(1)) { try reportingErrors { throw ExitCode(1) } }
        #expect(throws: ValidationError.self) { try reportingErrors { throw ValidationError("no") } }
    }

    static let table = MetricsTable(keys: ["loss", "a,b"], rows: [(1, [0.5, nil]), (2, [.nan, -.infinity]), (3, [0.1, 1e-300])])

    @Test func metricsRenderAsCSVJSONLinesAndATable() {
        #expect(MetricsRendering.csv(Self.table) == "step,loss,\"a,b\"\n1,0.5,\n2,nan,-inf\n3,0.1,1e-300\n")
        #expect(MetricsRendering.jsonLines(Self.table)
            == "{\"step\":1,\"loss\":0.5}\n{\"step\":2,\"loss\":NaN,\"a,b\":-Infinity}\n{\"step\":3,\"loss\":0.1,\"a,b\":1e-300}\n")
        #expect(MetricsRendering.table(Self.table)
            == "step  loss     a,b\n   1   0.5        \n   2   nan    -inf\n   3   0.1  1e-300\n")
        #expect(MetricsRendering.csv(MetricsTable(keys: [], rows: [])) == "step\n")
        #expect(MetricsRendering.jsonLines(MetricsTable(keys: ["k\"q"], rows: [(7, [2])])) == "{\"step\":7,\"k\\\"q\":2.0}\n")
    }

    @Test func infoRendersTextAndJSON() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("i.emalog")
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps") { $0 <= "step-00000004.safetensors" }
        try Goldens.ingest(db, [steps, Fixtures.path("mlp-f32/metrics.jsonl")], tracks: ["0.9"], snapshotEvery: 2)
        let i = try EMALog(openingAt: db).info()
        #expect(i.stepCount == 4 && i.tracks.map(\.snapshotSteps) == [[2, 4]])
        let text = EMALogCommand.InfoCommand.text(i)
        #expect(text.hasPrefix("log          \(db) (id \(i.logID))\nsteps        4 (1 ... 4)\n"))
        #expect(text.contains("\ntracks       1\n  ema-0.9  decay=0.9,schedule=constant,per=update,form=seed  snapshots: 2 [2, 4]\n"))
        #expect(text.contains("\nmetrics      3 keys, \(i.metricValueCount) values: eval/acc, loss, lr\n"))
        let codecs = i.codecs.map { "{\"codec\":\"\($0.codec)\",\"chunks\":\($0.chunks),\"stored_bytes\":\($0.storedBytes),\"raw_bytes\":\($0.rawBytes)}" }
        let expected = "{\"path\":\"\(db)\",\"log_id\":\"\(i.logID)\",\"steps\":4,\"first_step\":1,\"last_step\":4,"
            + "\"tensors\":\(i.tensorCount),\"parameters\":\(i.parameterCount),\"bytes_per_step\":\(i.bytesPerStep),"
            + "\"tracks\":[{\"name\":\"ema-0.9\",\"spec\":\"decay=0.9,schedule=constant,per=update,form=seed\",\"snapshot_steps\":[2,4]}],"
            + "\"snapshots\":\(i.snapshotCount),\"owed_snapshots\":0,\"metric_keys\":[\"eval/acc\",\"loss\",\"lr\"],\"metric_values\":\(i.metricValueCount),"
            + "\"ingests\":1,\"file_bytes\":\(i.fileBytes),\"wal_bytes\":\(i.walBytes),"
            + "\"bytes_per_parameter_step\":\(i.bytesPerParameterStep!),\"codecs\":[\(codecs.joined(separator: ","))],"
            + "\"migrations\":[\(i.migrations.map { "\"\($0)\"" }.joined(separator: ","))],\"pins\":[],\"retention\":null,"
            + "\"steps_with_raw\":4,\"projected_bytes_per_1000_steps\":\(i.projectedBytesPer1000Steps!),\"ranks\":null,\"rank_of\":null}\n"
        #expect(try EMALogCommand.InfoCommand.json(i) == expected)
        let parsed = try JSONParser.parse(Array(try EMALogCommand.InfoCommand.json(i).utf8))
        guard case let .object(members) = parsed else { Issue.record("not an object"); return }
        #expect(members.first?.key == "path" && members.count == 25)
    }

    @Test func infoOfAnEmptyLogWritesNulls() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("m.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/metrics.jsonl")])
        let json = try EMALogCommand.InfoCommand.json(try EMALog(openingAt: db).info())
        #expect(json.contains("\"steps\":0,\"first_step\":null,\"last_step\":null,"))
        #expect(json.contains("\"tracks\":[],"))
        #expect(json.contains("\"bytes_per_parameter_step\":null,"))
    }
}
