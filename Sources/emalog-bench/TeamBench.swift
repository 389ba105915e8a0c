import EMAKernel
import EMALogCore
import EMALogFormats
import EMALogTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif
import EMALogPostgres

/// The team store against its goals, on a throwaway PostgreSQL on loopback (started here with
/// scripts/postgres-throwaway.sh, or `EMALOG_BENCH_POSTGRES=postgresql://...` for another one):
/// push throughput against reading the same stored bytes locally, metrics pushed per second, a
/// 10k-point history and a shadow from the server against the local log, and pushes SIGKILLed at
/// random moments, then resumed, compared by content digest.
enum TeamBench {
    static func run(steps: Int, parameters: Int, killTrials: Int) throws {
        let folder = try ScaleBench.folder("team")
        var started: String?
        let url: String
        if let given = ProcessInfo.processInfo.environment["EMALOG_BENCH_POSTGRES"] {
            url = given
        } else {
            let r = shell(["scripts/postgres-throwaway.sh", "start", folder + "/pg"])
            guard r.status == 0, let line = r.output.split(separator: "\n").last else {
                print("\n## Team store: skipped (no throwaway PostgreSQL: \(r.output.prefix(200)))")
                return
            }
            url = String(line)
            started = folder + "/pg"
        }
        defer {
            if let started { _ = shell(["scripts/postgres-throwaway.sh", "stop", started]) }
            try? FileManager.default.removeItem(atPath: folder)
        }
        print("\n## Team store (PostgreSQL on loopback): \(steps) steps x \(parameters) float32 parameters")

        // A log of large steps (one 16 MiB chunk per tensor), two tracks with snapshots every 10 steps.
        let db = folder + "/run.emalog"
        try writeSteps(folder + "/steps", steps: steps, parameters: parameters, seed: 3)
        var request = IngestRequest(logPath: db, inputs: [folder + "/steps"])
        request.tracks = [EMASpec(decay: 0.999), try EMASpec(parsing: "name=warm,decay=0.9999,schedule=warmup")]
        request.snapshotEvery = 10
        _ = try Ingest.run(request)
        let local = try EMALog(openingAt: db)
        let stored = try local.info().rawChunkBytes + (try local.info().snapshotChunkBytes)

        // Baseline: every stored byte of the log read locally, as a push reads it.
        let read = try Measure.seconds { _ = try local.contentDigest() }
        print(String(format: "read + SHA-256 of the log's %.0f MB locally (the push's source)  %7.3f s  %7.1f MB/s  1.00x",
                     Double(stored) / 1e6, read, Double(stored) / read / 1e6))
        // The server's own write rate for bodies this size, with no client: a ceiling for a push.
        let sizeEach = stored / max(1, steps)
        let measuring = try TeamServer(url)
        defer { measuring.close() }
        let t = try measuring.bodyWriteSeconds(count: 20, bytesEach: sizeEach)
        print(String(format: "the server writing 20 bodies of %.1f MB itself (INSERT ... SELECT)   %7.3f s  %7.1f MB/s",
                     Double(sizeEach) / 1e6, t, Double(20 * sizeEach) / t / 1e6))
        // The disk under the server (only known for the one started here, whose cluster is in
        // `folder`): the same number of bytes written and fsynced there. PostgreSQL writes each
        // stored byte twice (to the WAL at once, to the table by the next checkpoint), so half of
        // this caps a sustained push; a short one can leave the table writes for later.
        var ceiling = Double.nan
        if started != nil {
            let disk = diskWrite(folder, bytes: stored)
            ceiling = disk / 2
            print(String(format: "the disk writing %.0f MB + fsync, no server (dd conv=fdatasync)  %7.3f s  %7.1f MB/s",
                         Double(stored) / 1e6, Double(stored) / disk, disk / 1e6))
            print(String(format: "half of it: the cap of a sustained push (each byte written twice: WAL, then table)  %7.1f MB/s",
                         ceiling / 1e6))
        }
        for connections in [1, 2, 3] {
            try clear(url)
            let start = Date()
            let report = try TeamStore.push(log: db, to: url, run: "bench", connections: connections)
            let t = Date().timeIntervalSince(start)
            let ofCeiling = ceiling.isNaN ? "" : String(format: "  (%.2fx half the disk)", Double(stored) / t / ceiling)
            print(String(format: "push, %d connection%@ (%.0f MB uploaded)                          %7.3f s  %7.1f MB/s  %.2fx%@",
                         connections, connections == 1 ? " " : "s", Double(report.bodyBytes) / 1e6, t,
                         Double(stored) / t / 1e6, read / t, ofCeiling))
        }
        let sizes = try measuring.storageBytes()
        print(String(format: "on the server: bodies %.1f MB (%.3fx the stored bytes), rows and indexes %.2f MB (%.0f B per chunk)",
                     Double(sizes.bodies) / 1e6, Double(sizes.bodies) / Double(stored), Double(sizes.rows) / 1e6,
                     Double(sizes.rows) / Double(steps + 2 * (steps / 10))))
        let again = Date()
        let noop = try TeamStore.push(log: db, to: url, run: "bench")
        print(String(format: "a second push of the same log (%@)                     %7.3f s",
                     noop.upToDate ? "nothing to do" : "CHANGED", Date().timeIntervalSince(again)))

        // The same digest on both sides.
        let server = try EMALog(openingAt: url, run: "bench")
        print("content digest of the run equals the log's:                    \(try server.contentDigest() == (try local.contentDigest()))")

        // A shadow 5 steps past a snapshot: the server against the local log, whole process.
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("emalog").path
        let at = String(min(steps, 15))
        let localShadow = Measure.seconds {
            _ = shell([binary, "shadow", "--db", db, "--ema", "0.999", "--step", at, "-o", folder + "/local.safetensors"])
        }
        let serverShadow = Measure.seconds {
            _ = shell([binary, "shadow", "--db", url, "--run", "bench", "--ema", "0.999", "--step", at, "-o", folder + "/server.safetensors"])
        }
        let same = FileManager.default.contentsEqual(atPath: folder + "/local.safetensors", andPath: folder + "/server.safetensors")
        print(String(format: "emalog shadow at step %@ (5 steps past a snapshot), local log   %7.3f s  1.00x", at, localShadow))
        print(String(format: "the same from the server (bit-identical: %@)                 %7.3f s  %.2fx",
                     same ? "yes" : "NO", serverShadow, serverShadow / localShadow))

        try metrics(folder: folder, url: url, binary: binary)
        try kills(folder: folder, url: url, binary: binary, trials: killTrials)
    }

    /// Metrics pushed per second, and a 10k-point history read back.
    static func metrics(folder: String, url: String, binary: String) throws {
        let keys = 10, points = 100_000
        var text = ""
        text.reserveCapacity(keys * points * 30)
        var state: UInt64 = 5
        for step in 0..<points {
            text += "{\"step\": \(step)"
            for k in 0..<keys {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += ", \"k\(k)\": \(Double(state >> 11) / Double(1 << 53))"
            }
            text += "}\n"
        }
        try text.write(toFile: folder + "/metrics.jsonl", atomically: false, encoding: .utf8)
        let db = folder + "/metrics.emalog"
        _ = try Ingest.run(IngestRequest(logPath: db, inputs: [folder + "/metrics.jsonl"]))
        try clear(url)
        let start = Date()
        let report = try TeamStore.push(log: db, to: url, run: "metrics")
        let t = Date().timeIntervalSince(start)
        print(String(format: "push of %d metric values (%d keys, %d blocks)                %7.3f s  %9.0f values/s",
                     report.metricValues, keys, report.metricBlocks, t, Double(report.metricValues) / t))
        let localLog = try EMALog(openingAt: db)
        let serverLog = try EMALog(openingAt: url, run: "metrics")
        let l = try Measure.seconds { _ = try localLog.metrics(keys: ["k3"], from: 20_000, to: 29_999) }
        let s = try Measure.seconds { _ = try serverLog.metrics(keys: ["k3"], from: 20_000, to: 29_999) }
        let equal = try localLog.metrics(keys: ["k3"], from: 20_000, to: 29_999) == serverLog.metrics(keys: ["k3"], from: 20_000, to: 29_999)
        print(String(format: "a 10k-point history of one key, local log (in process)          %7.2f ms  1.00x", l * 1e3))
        print(String(format: "the same from the server (in process; equal: %@)               %7.2f ms  %.2fx", equal ? "yes" : "NO", s * 1e3, s / l))
        let whole = Measure.seconds {
            _ = shell([binary, "metrics", "--db", url, "--run", "metrics", "--key", "k3", "--from", "20000", "--to", "29999", "--format", "csv"])
        }
        print(String(format: "the same as a whole emalog metrics process                      %7.2f ms", whole * 1e3))
    }

    /// Pushes killed with SIGKILL at a random moment, then the same command again; the run's
    /// digest must equal the log's.
    static func kills(folder: String, url: String, binary: String, trials: Int) throws {
        let db = folder + "/kill.emalog"
        try writeSteps(folder + "/kill-steps", steps: 24, parameters: 1 << 20, seed: 9)
        var request = IngestRequest(logPath: db, inputs: [folder + "/kill-steps"])
        request.tracks = [EMASpec(decay: 0.99)]
        request.snapshotEvery = 5
        _ = try Ingest.run(request)
        let digest = try EMALog(openingAt: db).contentDigest()
        try clear(url)
        let start = Date()
        _ = shell([binary, "push", "--db", db, "--to", url, "--run", "kill"])
        let full = Date().timeIntervalSince(start)
        var equal = 0, killedMidway = 0
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<trials {
            try clear(url)
            guard let pid = Spawn.start(binary, ["push", "--db", db, "--to", url, "--run", "kill"]) else { continue }
            usleep(UInt32(Double.random(in: 0.02...max(0.05, full * 0.95), using: &generator) * 1e6))
            kill(pid, SIGKILL)
            if Spawn.wait(pid) == 128 + SIGKILL { killedMidway += 1 }
            let resumed = shell([binary, "push", "--db", db, "--to", url, "--run", "kill"])
            if (try? EMALog(openingAt: url, run: "kill").contentDigest()) == digest {
                equal += 1
            } else {
                print("  a resumed push left another digest (status \(resumed.status)): \(resumed.output.prefix(300))")
            }
        }
        print(String(format: "pushes SIGKILLed at a random moment (of a %.2f s push), then resumed: %d/%d digests equal (%d killed midway)",
                     full, equal, trials, killedMidway))
    }

    /// `steps` step files of one float32 tensor of `parameters` values, a random walk.
    static func writeSteps(_ folder: String, steps: Int, parameters: Int, seed: UInt64) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var values = (0..<parameters).map { Float($0 % 977) * 1e-3 - 0.5 }
        var state = seed
        let header = Safetensors.encodeHeader([TensorLayout(name: "w", dtype: .f32, shape: [parameters])], metadata: [:])
        for step in 1...steps {
            ScaleBench.walk(&values, &state)
            ScaleBench.writeStep(folder + String(format: "/step-%08d.safetensors", step), header: header, values: values)
        }
    }

    /// Bytes per second of writing `bytes` of incompressible data to a new file in `folder`, then
    /// fsync (what `dd conv=fdatasync` measures), or NaN when the file cannot be written.
    static func diskWrite(_ folder: String, bytes: Int) -> Double {
        let path = folder + "/disk-baseline"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return .nan }
        defer { close(fd); unlink(path) }
        var state: UInt64 = 11
        let block = (0..<(1 << 18)).map { _ -> UInt32 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt32(truncatingIfNeeded: state >> 32)
        }
        let start = Date()
        var written = 0
        while written < bytes {
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, bytes - written)) }
            guard n > 0 else { return .nan }
            written += n
        }
        guard fsync(fd) == 0 else { return .nan }
        return Double(written) / Date().timeIntervalSince(start)
    }

    /// Removes every run and chunk body (TRUNCATE: their space too), so the next push uploads everything again.
    static func clear(_ url: String) throws {
        let server = try TeamServer(url)
        defer { server.close() }
        try server.removeEverything()
    }

    static func shell(_ args: [String]) -> (status: Int32, output: String) {
        Spawn.run(args[0].hasPrefix("/") ? args[0] : FileManager.default.currentDirectoryPath + "/" + args[0], Array(args.dropFirst()))
    }
}
