import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// `emalog verify` end to end: verdicts, the text and JSON reports, exit codes, flags.
@Suite struct VerifyCommandTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("run.emalog") }
    let timm = Fixtures.path("golden/timm-v3-warmup-d0.999-step-24.safetensors")
    let timmSpec = "decay=0.999,schedule=warmup,form=lerp"

    init() throws {
        let r = try CLI.run(["ingest", "--db", dir.file("run.emalog"), Fixtures.path("mlp-f32/steps")])
        #expect(r.status == 0, "\(r.stderr)")
    }

    func verify(_ args: [String]) async throws -> CLI.Result { try await CLI.run(["verify", "--db", db] + args) }

    /// The `tensors` of a JSON report, by checkpoint name (or log name when only in the log).
    func tensors(_ json: String) throws -> [String: [String: JSONValue]] {
        guard case let .object(members) = try Array(json.utf8).withUnsafeBytes({ try JSONParser.parse($0) }),
              case let .array(items)? = members.first(where: { $0.key == "tensors" })?.value else { return [:] }
        var out: [String: [String: JSONValue]] = [:]
        for case let .object(fields) in items {
            let f = Dictionary(fields.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            if case let .string(name)? = f["name"] { out[name] = f } else if case let .string(name)? = f["log_name"] { out["log:" + name] = f }
        }
        return out
    }

    /// The text of a JSON number, nil for anything else.
    func number(_ value: JSONValue?) -> String? {
        if case let .number(n)? = value { return n.text }
        return nil
    }

    func copy(_ path: String, _ edit: (inout SafetensorsBuilder) -> Void) throws -> String {
        var b = try SafetensorsBuilder(copying: path)
        edit(&b)
        let out = dir.file(UUID().uuidString + ".safetensors")
        try b.write(to: out)
        return out
    }

    @Test func exactCheckpointExitsZeroWithEveryTensorListed() async throws {
        let r = try await verify(["--ema", timmSpec, "--step", "24", timm])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines[0].hasPrefix("exact: \(timm) (layout state_dict) against decay=0.999,schedule=warmup"))
        #expect(lines[0].hasSuffix("at step 24: 12 exact"))
        #expect(lines.count == 13 && lines.dropFirst().allSatisfy { $0.hasSuffix("  exact") })
        // --step left out: the checkpoint's metadata says 24.
        #expect(try await verify(["--ema", timmSpec, timm]).stdout == r.stdout)
    }

    @Test func jsonReportHasTheContractFields() async throws {
        let r = try await verify(["--ema", timmSpec, "--format", "json", timm])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix(#"{"verdict":"exact","step":24,"ema":"decay=0.999,schedule=warmup,gamma=1,power=0.6666666666666666,min=0,form=lerp","#))
        let t = try tensors(r.stdout)
        #expect(t.count == 12)
        let w = try #require(t["fc1.weight"])
        #expect(w["status"] == .string("exact") && w["log_name"] == .string("fc1.weight") && w["dtype"] == .string("F32"))
        #expect(w["max_ulp"]?.kindName == "a number" && w["first_index"] == .null)
    }

    @Test func oneUlpOffIsReportedAtItsIndex() async throws {
        let original = try LoadedSafetensors(path: timm).floats("fc2.weight")
        let tampered = try copy(timm) { b in
            var v = original
            v[17] = v[17].nextDown
            b.tensors[b.index(of: "fc2.weight")].bytes = v.withUnsafeBytes { Array($0) }
        }
        let r = try await verify(["--ema", timmSpec, tampered])
        #expect(r.status == 1)
        #expect(r.stdout.hasPrefix("differs: "))
        #expect(r.stdout.contains("  fc2.weight              F32   differs: max abs \(JSONWriter.number(Double(original[17]) - Double(original[17].nextDown))), "
            + "max ulp 1, first at index 17: checkpoint \(JSONWriter.number(Double(original[17].nextDown))), log \(JSONWriter.number(Double(original[17])))"))
        let json = try await verify(["--ema", timmSpec, "--format", "json", tampered])
        #expect(json.status == 1 && json.stdout.hasPrefix(#"{"verdict":"differs""#))
        let t = try #require(try tensors(json.stdout)["fc2.weight"])
        #expect(t["status"] == .string("differs") && t["first_index"]?.kindName == "a number")
        #expect(number(t["max_ulp"]) == "1" && number(t["first_index"]) == "17")
        #expect(try await verify(["--ema", timmSpec, "--max-ulp", "1", tampered]).status == 0)
        #expect(try await verify(["--ema", timmSpec, "--max-ulp", "1", tampered]).stdout.hasPrefix("within tolerance (--max-ulp 1): "))
        #expect(try await verify(["--ema", timmSpec, "--atol", "1e-12", tampered]).status == 1)
    }

    @Test func missingAndRenamedTensorsCountWithStrict() async throws {
        let missing = try copy(timm) { b in b.tensors.remove(at: b.index(of: "ln.weight")) }
        let m = try await verify(["--ema", timmSpec, missing])
        #expect(m.status == 0 && m.stdout.contains("  ln.weight               F32   only in the log"))
        #expect(m.stdout.split(separator: "\n")[0].hasSuffix("11 exact, 1 only in the log"))
        #expect(try await verify(["--ema", timmSpec, "--strict", missing]).status == 1)
        let renamed = try copy(timm) { b in b.tensors[b.index(of: "fc1.bias")].name = "fc1.b" }
        let n = try await verify(["--ema", timmSpec, "--format", "json", renamed])
        let t = try tensors(n.stdout)
        #expect(n.status == 0 && t["fc1.b"]?["status"] == .string("only-in-checkpoint") && t["fc1.b"]?["log_name"] == .null)
        #expect(t["log:fc1.bias"]?["status"] == .string("only-in-log") && t["log:fc1.bias"]?["name"] == .null)
        #expect(try await verify(["--ema", timmSpec, "--strict", renamed]).status == 1)
    }

    @Test func libraryCountersAndIntegerBuffersAreNotCompared() async throws {
        let averaged = try copy(timm) { b in
            for i in b.tensors.indices { b.tensors[i].name = "module." + b.tensors[i].name }
            b.tensors[b.index(of: "module.bn.num_batches_tracked")].bytes[0] ^= 3
            b.add("n_averaged", dtype: .i64, shape: [], bytes: [24, 0, 0, 0, 0, 0, 0, 0])
        }
        let r = try await verify(["--ema", timmSpec, averaged])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("(layout AveragedModel)"))
        #expect(r.stdout.contains("n_averaged"))
        #expect(r.stdout.contains("not compared: a counter of AveragedModel, not a model tensor"))
        #expect(r.stdout.contains("module.bn.num_batches_tracked (log: bn.num_batches_tracked)"))
        #expect(r.stdout.contains("(AveragedModel averages integer buffers in its own arithmetic); --strict counts it"))
        #expect(try await verify(["--ema", timmSpec, "--strict", averaged]).status == 1)
    }

    @Test func badCheckpointsAndFlags() async throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: timm))
        let cut = dir.file("cut.safetensors")
        try bytes.prefix(20).write(to: URL(fileURLWithPath: cut))
        let bad = try await verify(["--ema", timmSpec, cut])
        #expect(bad.status == 65 && bad.stderr.contains(cut) && bad.stdout.isEmpty)
        #expect(try await verify(["--ema", timmSpec, dir.file("none.safetensors")]).status == 66)
        let both = try await verify(["--ema", timmSpec, "--atol", "0.1", "--max-ulp", "2", timm])
        #expect(both.status == 64 && both.stderr.contains("give --atol or --max-ulp, not both"))
        #expect(try await verify(["--ema", timmSpec, "--atol=-1", timm]).status == 64)
        #expect(try await verify(["--ema", timmSpec, "--max-ulp=-1", timm]).status == 64)
        #expect(try await verify(["--ema", timmSpec, "--format", "xml", timm]).status == 64)
        #expect(try await verify(["--ema", timmSpec, "--step", "99", timm]).status == 65)
        let noDecay = try await verify(["--find", timm])
        #expect(noDecay.status == 64 && noDecay.stderr.contains("give one with --decay D"))
    }

    @Test func findPrintsTheSpecThatReproducesTheCheckpoint() async throws {
        let r = try await verify(["--decay", "0.999", "--find", timm])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("found: decay=0.999,schedule=warmup,gamma=1,power=0.6666666666666666,min=0,form=lerp reproduces the checkpoint bit for bit\n"))
        let json = try await verify(["--ema", "0.999", "--find", "--format", "json", timm])
        #expect(json.status == 0 && json.stdout.hasPrefix(#"{"found":true,"candidates":[{"ema":"decay=0.999,schedule=warmup"#))
        // A decay that no candidate reproduces: the closest, exit 1.
        let none = try await verify(["--decay", "0.5", "--find", timm])
        #expect(none.status == 1 && none.stdout.hasPrefix("not found: no candidate reproduces the checkpoint; the closest is "))
    }
}
