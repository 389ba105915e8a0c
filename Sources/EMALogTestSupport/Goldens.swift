import EMAKernel
public import EMALogCore
import EMALogFormats
public import FormatsTestSupport
import Foundation

/// Helpers to ingest fixtures and compare results with golden files bit for bit.
public enum Goldens {
    /// Ingests `inputs` into `db` with `tracks` (spec strings).
    @discardableResult
    /// `snapshotEvery` nil: the ingest's default (1000, or `rawEvery`).
    public static func ingest(_ db: String, _ inputs: [String], tracks: [String] = [], snapshotEvery: Int? = 1000,
                              chunkBytes: Int = 64 << 20, replace: Bool = false, allowNonFinite: Bool = false,
                              keyframeEvery: Int = 32, rawEvery: Int? = nil, rawKeepLast: Int? = nil) throws -> IngestReport {
        var request = IngestRequest(logPath: db, inputs: inputs)
        request.tracks = try tracks.map { try EMASpec(parsing: $0) }
        request.snapshotEvery = snapshotEvery
        request.rawEvery = rawEvery
        request.rawKeepLast = rawKeepLast
        request.chunkBytes = chunkBytes
        request.replace = replace
        request.allowNonFinite = allowNonFinite
        request.keyframeEvery = keyframeEvery
        return try Ingest.run(request)
    }

    /// The shadow written as safetensors (default F32) and read back.
    public static func shadow(_ db: String, step: Int?, _ selector: EMALog.TrackSelector,
                              precision: ShadowResult.Precision = .f32, in dir: TemporaryDirectory) throws -> LoadedSafetensors {
        let out = dir.file("shadow-\(UUID().uuidString).safetensors")
        try EMALog(openingAt: db).shadow(atStep: step, track: selector).write(to: out, format: .safetensors, precision: precision)
        return try LoadedSafetensors(path: out)
    }

    /// Each track's shadow at the latest step as `emalog shadow` writes it: every tensor's bytes,
    /// keyed "track/tensor". Throws when the command fails.
    public static func cliShadows(_ db: String, tracks: [String], in dir: TemporaryDirectory) async throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for track in tracks {
            let path = dir.file("\(track)-\(UUID().uuidString).safetensors")
            let r = try await CLI.run(["shadow", "--db", db, "--ema", track, "-o", path])
            guard r.status == 0 else { throw CLIFailure(arguments: ["shadow", "--db", db, "--ema", track], result: r) }
            for (name, t) in try LoadedSafetensors(path: path).tensors { out[track + "/" + name] = t.bytes }
        }
        return out
    }

    /// A command that exited with a status other than 0.
    public struct CLIFailure: Error, CustomStringConvertible {
        public var arguments: [String]
        public var result: CLI.Result
        public var description: String { "emalog \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)" }
    }

    /// Tensors of `golden` that differ from `candidate` (missing, dtype, shape or any bit); empty when equal.
    /// Extra tensors in the candidate are allowed.
    public static func differences(_ candidate: LoadedSafetensors, _ golden: LoadedSafetensors) -> [String] {
        var out: [String] = []
        for (name, g) in golden.tensors.sorted(by: { $0.key < $1.key }) {
            guard let c = candidate.tensors[name] else { out.append("\(name): missing"); continue }
            if c.dtype != g.dtype || c.shape != g.shape { out.append("\(name): \(c.dtype)\(c.shape) vs \(g.dtype)\(g.shape)"); continue }
            if c.bytes != g.bytes {
                let i = zip(c.bytes, g.bytes).enumerated().first { $0.element.0 != $0.element.1 }!.offset
                out.append("\(name): first differing byte \(i)")
            }
        }
        return out
    }

    /// Loads `Tests/Fixtures/golden/<name>`.
    public static func golden(_ name: String) throws -> LoadedSafetensors {
        try LoadedSafetensors(path: Fixtures.path("golden/" + name))
    }
}
