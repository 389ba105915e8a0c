import EMAKernel
import EMALogCore
import EMALogFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Post-hoc replay against its baseline, metrics ingest and queries, and per-step ingest time over
/// many steps of a small model.
enum ScaleBench {
    static func folder(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-bench-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// One step of a random walk (like training): each value moves by a small random amount.
    static func walk(_ values: inout [Float], _ state: inout UInt64) {
        for i in values.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values[i] += Float(Int64(bitPattern: state) >> 44) * 1e-9
        }
    }

    /// Writes a step file: `header` (from Safetensors.encodeHeader) then the values.
    static func writeStep(_ path: String, header: [UInt8], values: [Float]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        header.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
        values.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// The baseline of a post-hoc replay: read every uncompressed step file and run the same EMA
    /// update (what a numpy loop over safetensors files does). `steps` holds the files.
    static func replayBaseline(stepsFolder: String, steps: Int, parameters: Int) -> Double {
        let shadow = UnsafeMutablePointer<Float>.allocate(capacity: parameters)
        defer { shadow.deallocate() }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: parameters * 4 + (1 << 16), alignment: 64)
        defer { buffer.deallocate() }
        return Measure.seconds {
            for step in 1...steps {
                let fd = open(stepsFolder + String(format: "/step-%08d.safetensors", step), O_RDONLY)
                var headerLength: UInt64 = 0
                _ = read(fd, &headerLength, 8)
                _ = lseek(fd, off_t(8 + headerLength), SEEK_SET)
                var got = 0
                while got < parameters * 4 {
                    let n = read(fd, buffer + got, parameters * 4 - got)
                    if n <= 0 { break }
                    got += n
                }
                close(fd)
                if step == 1 {
                    shadow.update(from: buffer.assumingMemoryBound(to: Float.self), count: parameters)
                } else {
                    EMA.update(shadows: [shadow], toward: UnsafeRawPointer(buffer), dtype: .f32, count: parameters,
                               coefficients: [EMA.Coefficients(decay: 0.995, form: .seed)])
                }
            }
        }
    }

    /// 1M metric values (lines of 10 keys) ingested, then a 10k-point history read back.
    static func metrics(lines: Int, quick: Bool) throws {
        let dir = try folder("metrics")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        print("\n## Metrics, \(lines) lines x 10 keys")
        var text = ""
        text.reserveCapacity(lines * 400)
        var state: UInt64 = 3
        for step in 1...lines {
            text += "{\"step\": \(step)"
            for k in 0..<10 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += ", \"train/metric_\(k)\": \(Double(state >> 11) / Double(1 << 53))"
            }
            text += "}\n"
        }
        let path = dir + "/metrics.jsonl"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        var count = 0
        var db = ""
        let ingest = try Measure.seconds {
            count += 1
            db = dir + "/m-\(count).emalog"
            _ = try Ingest.run(IngestRequest(logPath: db, inputs: [path]))
        }
        let values = Double(lines * 10)
        print("metrics ingest                   \(String(format: "%7.2f M values/s", values / ingest / 1e6))   (\(String(format: "%.3f s", ingest)))")
        let log = try EMALog(openingAt: db)
        let points = min(10_000, lines)
        let query = try Measure.seconds { _ = try log.metrics(keys: ["train/metric_3"], from: 1, to: points) }
        print("metrics query, \(points) points      \(String(format: "%7.4f s", query))")
        try manyKeys(keys: 100, steps: quick ? 10_000 : 100_000)
    }

    /// 100 keys x `steps`: ingest rate, and one key's 10k-point history, which must not cost more
    /// with the other 99 keys and 90k steps beside it (compared with a log of that key alone).
    static func manyKeys(keys: Int, steps: Int) throws {
        let dir = try folder("keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ path: String, keys: Int, steps: Int) throws {
            var text = ""
            text.reserveCapacity(steps * keys * 24)
            for step in 1...steps {
                text += "{\"step\": \(step)"
                for k in 0..<keys { text += ", \"k\(k)\": \(Double(step * 31 + k) / 7)" }
                text += "}\n"
            }
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        }
        try write(dir + "/all.jsonl", keys: keys, steps: steps)
        try write(dir + "/one.jsonl", keys: 1, steps: 10_000)
        let values = Double(keys * steps)
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try Ingest.run(IngestRequest(logPath: dir + "/all.emalog", inputs: [dir + "/all.jsonl"]))
        let ingest = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        _ = try Ingest.run(IngestRequest(logPath: dir + "/one.emalog", inputs: [dir + "/one.jsonl"]))
        let all = try EMALog(openingAt: dir + "/all.emalog"), one = try EMALog(openingAt: dir + "/one.emalog")
        let big = try Measure.seconds { _ = try all.metrics(keys: ["k0"], from: 1, to: 10_000) }
        let alone = try Measure.seconds { _ = try one.metrics(keys: ["k0"], from: 1, to: 10_000) }
        print("\(keys) keys x \(steps) steps: ingest \(String(format: "%.2f M values/s (%.2f s)", values / ingest / 1e6, ingest)); "
            + "one key's 10k points \(String(format: "%.2f ms", big * 1e3)) vs \(String(format: "%.2f ms", alone * 1e3)) in a log of that key alone "
            + "(\(String(format: "%.2fx", big / alone)))")
    }

    /// Many steps of a small model, ingested in rounds of `perRound` (each a resumed ingest): the
    /// time per step should not grow with the steps already stored.
    static func manySteps(rounds: Int, perRound: Int, parameters: Int) throws {
        let dir = try folder("many")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        print("\n## \(rounds * perRound) steps of a \(parameters)-parameter model, ingested \(perRound) at a time")
        var values = (0..<parameters).map { Float($0 % 977) * 1e-3 - 0.5 }
        var state: UInt64 = 11
        let header = Safetensors.encodeHeader([TensorLayout(name: "w", dtype: .f32, shape: [parameters])], metadata: [:])
        let db = dir + "/many.emalog"
        var perStep: [Double] = []
        for round in 0..<rounds {
            let roundFolder = dir + "/round-\(round)"
            try FileManager.default.createDirectory(atPath: roundFolder, withIntermediateDirectories: true)
            for k in 1...perRound {
                walk(&values, &state)
                writeStep(roundFolder + String(format: "/step-%08d.safetensors", round * perRound + k), header: header, values: values)
            }
            var request = IngestRequest(logPath: db, inputs: [roundFolder])
            request.tracks = [EMASpec(decay: 0.999)]
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try Ingest.run(request)
            perStep.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(perRound))
            try FileManager.default.removeItem(atPath: roundFolder)
        }
        let shown = [0, rounds / 2, rounds - 1]
        for r in shown {
            print("steps \(String(format: "%5d", r * perRound + 1))-\(String(format: "%-5d", (r + 1) * perRound))  \(String(format: "%6.3f ms/step", perStep[r]))")
        }
        print(String(format: "last / first round                 %.2fx", perStep[rounds - 1] / perStep[0]))
    }
}

/// Large steps through the CLI binary (next to this one): wall time and peak RSS per command,
/// against the size of the shadow the command must hold.
enum LargeStepBench {
    /// Runs `emalog args`; returns (seconds, peak RSS in bytes). The peak is the child's own VmHWM,
    /// polled every 2 ms: wait4's ru_maxrss would report this (large) process's peak instead,
    /// since Linux carries the high-water mark across the exec of a spawned child.
    static func run(_ args: [String]) throws -> (Double, Int) {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("emalog").path
        var pid: pid_t = 0
        let argv = ([binary] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let start = DispatchTime.now().uptimeNanoseconds
        guard posix_spawn(&pid, binary, &actions, nil, argv, environ) == 0 else { throw CocoaError(.executableNotLoadable) }
        var status: Int32 = 0
        var peak = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                peak = max(peak, kb * 1024)
            }
            usleep(2000)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard status == 0 else { throw CocoaError(.executableLoad) }
        return (seconds, peak)
    }

    static func run(stepBytes: Int, steps: Int) throws {
        let dir = try ScaleBench.folder("large")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let big = stepBytes / 4 * 3 / 4, small = stepBytes / 4 / 4
        print("\n## \(steps) steps of \(stepBytes >> 20) MiB (float32 tensors of \(big) and \(small) elements), one track, via the CLI")
        let header = Safetensors.encodeHeader([TensorLayout(name: "big", dtype: .f32, shape: [big]),
                                               TensorLayout(name: "small", dtype: .f32, shape: [small])], metadata: [:])
        var values = [Float](repeating: 0, count: big + small)
        var state: UInt64 = 5
        for i in values.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values[i] = Float(Int64(bitPattern: state) >> 40) * 1e-8
        }
        try FileManager.default.createDirectory(atPath: dir + "/steps", withIntermediateDirectories: true)
        for step in 1...steps {
            for i in stride(from: 0, to: values.count, by: 7) { values[i] += 1e-6 }
            ScaleBench.writeStep(dir + String(format: "/steps/step-%08d.safetensors", step), header: header, values: values)
        }
        values = []
        let shadowMiB = Double((big + small) * 4) / 1048576
        let db = dir + "/large.emalog"
        func line(_ what: String, _ result: (Double, Int), shadow: Bool = true) {
            let rss = Double(result.1) / 1048576
            let split = shadow ? String(format: " = shadow + %5.0f MiB", rss - shadowMiB) : ""
            print("\(what.padding(toLength: 26, withPad: " ", startingAt: 0)) \(String(format: "%6.2f s   peak RSS %6.0f MiB", result.0, rss))\(split)")
        }
        line("ingest", try run(["ingest", "--db", db, "--ema", "name=main,decay=0.999", dir + "/steps"]))
        line("shadow at the snapshot", try run(["shadow", "--db", db, "--step", "\(steps)", "--ema", "main", "-o", dir + "/s.safetensors"]))
        line("shadow post hoc", try run(["shadow", "--db", db, "--step", "\(steps)", "--decay", "0.9", "-o", dir + "/p.safetensors"]))
        line("raw (holds no shadow)", try run(["raw", "--db", db, "--step", "\(steps)", "-o", dir + "/r.safetensors"]), shadow: false)
        try BenchCheck.sameTensors(dir + "/r.safetensors", dir + String(format: "/steps/step-%08d.safetensors", steps))
        line("audit", try run(["audit", "--db", db]))
        line("audit --sources", try run(["audit", "--db", db, "--sources", dir + "/steps"]))
        line("verify (tracked, exact)", try run(["verify", "--db", db, "--ema", "main", "--step", "\(steps)", dir + "/s.safetensors"]))
        line("verify post hoc", try run(["verify", "--db", db, "--decay", "0.9", "--step", "\(steps)", dir + "/p.safetensors"]))
        // --find replays 28 candidates, as many per pass as 4 GiB of shadows hold.
        line("verify --find", try run(["verify", "--db", db, "--decay", "0.9", "--find", "--step", "\(steps)", dir + "/p.safetensors"]))
        // Baseline, same run: reading the step files once (what any check of them costs at least).
        let start = DispatchTime.now().uptimeNanoseconds
        var buffer = [UInt8](repeating: 0, count: 64 << 20)
        for step in 1...steps {
            let fd = open(dir + String(format: "/steps/step-%08d.safetensors", step), O_RDONLY)
            while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
            close(fd)
        }
        let baseline = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("baseline: reading the \(steps) step files once: \(String(format: "%.2f s", baseline)) (page cache as the run left it)")
    }
}
