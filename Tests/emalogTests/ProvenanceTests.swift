import EMALogTestSupport
import Foundation
import Testing

/// `emalog info --provenance` gives what reproducing an evaluation needs: every ingest's time,
/// version, command line and configuration, and the first and last steps' sources.
@Suite struct ProvenanceTests {
    let dir = TemporaryDirectory()

    @Test func everyIngestAndTheFirstAndLastSourcesAreListed() async throws {
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps") { $0 <= "step-00000006.safetensors" }
        let more = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "more") { $0 > "step-00000006.safetensors" && $0 <= "step-00000008.safetensors" }
        let db = dir.file("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", db, "--ema", "0.9", "--snapshot-every", "3", steps]).status == 0)
        #expect(try await CLI.run(["ingest", "--db", db, "--ema", "name=slow,decay=0.99,form=lerp", more]).status == 0)
        let r = try await CLI.run(["info", "--db", db, "--provenance", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let provenance = object["provenance"] as! [String: Any]
        let ingests = provenance["ingests"] as! [[String: Any]]
        #expect(ingests.map { $0["id"] as! Int } == [1, 2])
        #expect(Array((ingests[1]["arguments"] as! [String]).dropFirst()) == ["ingest", "--db", db, "--ema", "name=slow,decay=0.99,form=lerp", more])
        let configuration = ingests[0]["configuration"] as! [String: Any]
        #expect(configuration["snapshot_every"] as? Int == 3 && configuration["replace"] as? Bool == false)
        #expect((configuration["migrations"] as? [String])?.isEmpty == false)
        let first = provenance["first_step"] as! [String: Any], last = provenance["last_step"] as! [String: Any]
        #expect(first["step"] as? Int == 1 && first["ingest_id"] as? Int == 1)
        #expect(first["source_path"] as? String == (steps as NSString).appendingPathComponent("step-00000001.safetensors"))
        #expect(last["step"] as? Int == 8 && last["ingest_id"] as? Int == 2 && (last["source_xxh64"] as? String)?.count == 16)
        #expect(last["source_size"] as? Int == (try FileManager.default.attributesOfItem(
            atPath: (more as NSString).appendingPathComponent("step-00000008.safetensors"))[.size] as? Int))
        // Without the flag the JSON has no provenance; the text lists each ingest's command line.
        #expect(try await !(CLI.run(["info", "--db", db, "--json"]).stdout.contains("\"provenance\"")))
        let text = try await CLI.run(["info", "--db", db, "--provenance"]).stdout
        #expect(text.contains("ingest 2 ") && text.contains("'name=slow,decay=0.99,form=lerp'") == false
                && text.contains("name=slow,decay=0.99,form=lerp") && text.contains("last step   8  "), "\(text)")
    }
}
