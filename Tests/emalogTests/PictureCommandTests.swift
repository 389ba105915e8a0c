import EMALogCore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// `plot` and `report` from the command line: pictures read back as XML, the page self-contained,
/// refusals with their exit codes, nothing written on a refusal.
@Suite struct PictureCommandTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("run.emalog") }
    var other: String { dir.file("other.emalog") }

    init() throws {
        let r = try CLI.run(["ingest", "--db", dir.file("run.emalog"), "--ema", "0.9",
                             "--ema", "name=w,decay=0.99,schedule=warmup,form=lerp",
                             Fixtures.path("mlp-f32/steps"), Fixtures.path("mlp-f32/metrics.jsonl")])
        #expect(r.status == 0, "\(r.stderr)")
        // A second run: the first 12 steps, and metrics with a key the first lacks.
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "half") { name in
            (Int(name.filter(\.isNumber)) ?? 0) <= 12
        }
        let metrics = dir.file("other.jsonl")
        try (1...12).map { "{\"step\": \($0), \"loss\": \(1.0 / Double($0)), \"only/here\": \($0)}" }
            .joined(separator: "\n").write(toFile: metrics, atomically: true, encoding: .utf8)
        let o = try CLI.run(["ingest", "--db", dir.file("other.emalog"), "--ema", "0.9", steps, metrics])
        #expect(o.status == 0, "\(o.stderr)")
    }

    func svg(_ path: String) throws -> XMLNode { try XMLNode.parse(try String(contentsOfFile: path, encoding: .utf8)) }

    @Test func aPanelPerKeyWithRawAndSmoothedCurves() async throws {
        let out = dir.file("loss.svg")
        let r = try await CLI.run(["plot", "--db", db, "--key", "loss", "--key", "eval/acc", "--smooth", "0.6", "-o", out])
        #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stderr)")
        let picture = try svg(out)
        let panels = picture.find("g", class: "panel")
        #expect(panels.map { $0.attributes["data-title"] } == ["loss", "eval/acc"])
        for panel in panels {
            #expect(panel.find("path", class: "series faint").count == 1)
            #expect(panel.find("path", class: "series line").count == 1)
            #expect(panel.find("g", class: "axis y")[0].find("text", class: "tick").count >= 3)
        }
        // 24 steps: every point is drawn (M, then 23 L).
        let raw = panels[0].find("path", class: "series faint")[0].attributes["d"]!
        #expect(raw.filter { $0 == "L" }.count == 23)
        #expect(panels[0].find("text", class: "note")[0].text.contains("weight 0.6"))

        let plain = try await CLI.run(["plot", "--db", db, "--key", "loss", "--smooth", "0", "--log-y", "-o", "-"])
        #expect(plain.status == 0)
        let one = try XMLNode.parse(plain.stdout)
        #expect(one.find("path", class: "series").count == 1 && one.find("path", class: "series faint").isEmpty)
    }

    @Test func everyKeyByDefaultAndSeveralLogsOverlaid() async throws {
        let all = try await CLI.run(["plot", "--db", db, "-o", "-"])
        #expect(all.status == 0)
        let keys = try await CLI.run(["metrics", "--db", db, "--format", "csv"]).stdout.split(separator: "\n")[0].split(separator: ",").dropFirst()
        #expect(try XMLNode.parse(all.stdout).find("g", class: "panel").map { $0.attributes["data-title"]! } == keys.map(String.init))

        let both = try await CLI.run(["plot", "--db", db, "--db", other, "--key", "loss", "--key", "only/here", "-o", "-"])
        #expect(both.status == 0, "\(both.stderr)")
        let picture = try XMLNode.parse(both.stdout)
        let panels = picture.find("g", class: "panel")
        #expect(panels[0].find("text", class: "legend-label").map(\.text) == ["run", "other"])
        #expect(panels[0].find("path", class: "series line").map { $0.attributes["stroke"] }.count == 2)
        #expect(Set(panels[0].find("path", class: "series line").map { $0.attributes["stroke"]! }).count == 2)
        // A key one log lacks draws the other's alone; a key no log has is refused.
        #expect(panels[1].find("path", class: "series line").map { $0.attributes["data-series"] } == ["other"])
        let none = try await CLI.run(["plot", "--db", db, "--db", other, "--key", "nope", "-o", dir.file("x.svg")])
        #expect(none.status == 65 && none.stderr.contains("nope") && none.stderr.contains("only/here"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.svg")))
    }

    @Test func tracksDrawDistanceAndDecayPerTrack() async throws {
        let out = dir.file("tracks.svg")
        let r = try await CLI.run(["plot", "--db", db, "--tracks", "--ema", "0.999", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let panels = try svg(out).find("g", class: "panel")
        #expect(panels.count == 2)
        for panel in panels {
            #expect(panel.find("path", class: "series line").map { $0.attributes["data-series"]! }
                == ["ema-0.9 (0.9)", "w (0.99, warmup)", "ema-0.999 (0.999)"])
        }
        #expect(panels[1].find("text", class: "tick").map(\.text).contains("0.99"))
        let one = try await CLI.run(["plot", "--db", db, "--tracks", "--tensor", "fc1.weight", "--from", "3", "-o", "-"])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(try XMLNode.parse(one.stdout).find("text", class: "note")[0].text.contains("tensor fc1.weight (48 values)"))
        let missing = try await CLI.run(["plot", "--db", db, "--tracks", "--tensor", "fc9", "-o", "-"])
        #expect(missing.status == 65 && missing.stderr.contains("fc1.weight"), "\(missing.stderr)")
        let both = try await CLI.run(["plot", "--db", db, "--tracks", "--key", "loss", "-o", "-"])
        #expect(try XMLNode.parse(both.stdout).find("g", class: "panel").count == 3)
    }

    @Test func refusalsWriteNothing() async throws {
        let cases: [([String], Int32, String)] = [
            (["plot", "--db", db, "-o", dir.file("loss.png")], 64, ".svg"),
            (["plot", "--db", db, "-o", db], 64, "log"),
            (["plot", "--db", db, "--smooth", "1", "-o", dir.file("a.svg")], 64, "--smooth"),
            (["plot", "--db", db, "--tensor", "fc1.weight", "-o", dir.file("a.svg")], 64, "--tracks"),
            (["plot", "-o", dir.file("a.svg")], 64, "--db"),
            (["plot", "--db", dir.file("missing.emalog"), "-o", dir.file("a.svg")], 66, "missing.emalog"),
            (["plot", "--db", db, "--key", "nope", "-o", dir.file("a.svg")], 65, "nope"),
            (["report", "--db", db, "-o", dir.file("a.svg")], 64, ".html"),
            (["report", "--db", db, "--db", other, "-o", other], 64, "log"),
            (["report", "--db", db, "--key", "nope", "-o", dir.file("a.html")], 65, "nope"),
        ]
        for (args, status, words) in cases {
            let r = try await CLI.run(args)
            #expect(r.status == status && r.stderr.contains(words), "\(args): \(r.status) \(r.stderr)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("a.") || $0.hasSuffix(".png") }
        #expect(left.isEmpty)
        // A log without tracks needs --ema for --tracks.
        let plain = dir.file("plain.emalog")
        #expect(try await CLI.run(["ingest", "--db", plain, Fixtures.path("mlp-f32/steps")]).status == 0)
        let r = try await CLI.run(["plot", "--db", plain, "--tracks", "-o", "-"])
        #expect(r.status == 64 && r.stderr.contains("--ema"), "\(r.stderr)")
        let stepsOnly = try await CLI.run(["plot", "--db", plain, "-o", "-"])
        #expect(stepsOnly.status == 65 && stepsOnly.stderr.contains("no metrics"), "\(stepsOnly.stderr)")
        // The same log twice (any spelling), an EMA name already taken, flags that would be ignored.
        let refused: [([String], String)] = [
            (["plot", "--db", db, "--db", dir.path + "/./run.emalog", "-o", "-"], "twice"),
            (["report", "--db", db, "--db", db, "-o", "-"], "twice"),
            (["plot", "--db", db, "--tracks", "--ema", "name=w,decay=0.7", "-o", "-"], "already"),
            (["plot", "--db", db, "--tracks", "--log-y", "-o", "-"], "--key"),
            (["plot", "--db", db, "--tracks", "--smooth", "0.5", "-o", "-"], "--key"),
            (["report", "--db", db, "--no-tracks", "--tensor", "fc1.weight", "-o", "-"], "--no-tracks"),
        ]
        for (args, words) in refused {
            let r = try await CLI.run(args)
            #expect(r.status == 64 && r.stderr.contains(words), "\(args): \(r.status) \(r.stderr)")
        }
    }

    @Test func theReportIsOneSelfContainedPage() async throws {
        let out = dir.file("run.html")
        let r = try await CLI.run(["report", "--db", db, "--db", other, "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let page = try String(contentsOfFile: out, encoding: .utf8)
        // Nothing to fetch: the only URL is the SVG namespace, every url() a local fragment.
        let urls = page.ranges(of: "://").map { page[page.index($0.lowerBound, offsetBy: -4)..<$0.upperBound] }
        #expect(urls.allSatisfy { $0 == "http://" }, "\(urls)")
        #expect(page.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg\"") })
        for forbidden in ["<script", "<link", "<img", "<iframe", "src=", "@import", "<object", "<embed"] {
            #expect(!page.contains(forbidden), "\(forbidden)")
        }
        #expect(page.components(separatedBy: "url(").dropFirst().allSatisfy { $0.hasPrefix("#") })
        #expect(page.contains("Content-Security-Policy\" content=\"default-src 'none'"))
        // Summary with a column per log, the audit verdicts, charts and both tables.
        #expect(page.contains("<th>run</th><th>other</th>"))
        #expect(page.components(separatedBy: "class=\"ok\">clean</span>").count == 3)
        #expect(page.contains("<b>w</b> <code>decay=0.99,schedule=warmup"))
        #expect(page.components(separatedBy: "class=\"emalog-chart\"").count - 1 == 4 + 1)  // loss (overlaid), lr, eval/acc, only/here; tracks
        // Each inline picture is well-formed XML.
        for piece in page.components(separatedBy: "<svg ").dropFirst() {
            _ = try XMLNode.parse("<svg " + piece.components(separatedBy: "</svg>")[0] + "</svg>")
        }
        // The CSV download holds exactly what `emalog metrics --format csv` prints.
        let csv = try await CLI.run(["metrics", "--db", db, "--format", "csv"]).stdout
        let encoded = try #require(page.components(separatedBy: "download=\"run-metrics.csv\" href=\"data:text/csv;charset=utf-8;base64,")
            .dropFirst().first?.components(separatedBy: "\"").first)
        #expect(String(decoding: try #require(Data(base64Encoded: encoded)), as: UTF8.self) == csv)
    }

    @Test func aDamagedLogGetsAPageThatNamesTheDamage() async throws {
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "UPDATE chunks SET xxh64 = 1 WHERE step = 5 AND chunk_index = 0 AND tensor_id = 2; PRAGMA wal_checkpoint(TRUNCATE);"])
        let r = try await CLI.run(["report", "--db", db, "-o", "-"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("class=\"bad\">") && r.stdout.contains("checksum"))
        #expect(r.stdout.contains("not drawn: the replay stopped at damaged data"))
        let plot = try await CLI.run(["plot", "--db", db, "--tracks", "-o", "-"])
        #expect(plot.status == 74 && plot.stderr.contains("emalog audit"), "\(plot.stderr)")
    }

    @Test func aHostileLogCannotInjectIntoThePage() async throws {
        let hostile = dir.file("hostile.emalog")
        let metrics = dir.file("hostile.jsonl")
        let key = "</td></table><script>alert(1)</script><img src=x onerror=alert(1)>"
        let line = "{\"step\": 1, \"\(key.replacingOccurrences(of: "\"", with: "\\\""))\": 1.5}\n{\"step\": 2, \"\(key)\": 2.5}\n"
        try line.write(toFile: metrics, atomically: true, encoding: .utf8)
        let ingested = try await CLI.run(["ingest", "--db", hostile, metrics])
        #expect(ingested.status == 0, "\(ingested.stderr)")
        let r = try await CLI.run(["report", "--db", hostile, "-o", "-"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("<script") && !r.stdout.contains("<img"))
        #expect(r.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        let picture = try await CLI.run(["plot", "--db", hostile, "-o", "-"])
        #expect(try XMLNode.parse(picture.stdout).find("g", class: "panel")[0].attributes["data-title"] == key)
    }
}
