public import EMAKernel
import EMALogFormats
import EMALogStore

extension EMALog {
    /// The shadow of `selector` at `step` (default: the latest): a tracked profile starts from its
    /// nearest snapshot at or before the step; anything else replays from the first step.
    /// An untracked power-function EMA (`schedule=power`) whose replay needs raw steps the log
    /// left out, or any with `synthesize`, is made by EDM2's post-hoc synthesis from the power
    /// tracks' snapshots (`EMALog+Synthesis.swift`).
    public func shadow(atStep step: Int?, track selector: TrackSelector, synthesize: Bool = false,
                       observer: any ProgressObserver = SilentObserver()) throws -> ShadowResult {
        if !shards.isEmpty {
            return try shardedShadows(atStep: step) { rank, at in
                [try rank.shadow(atStep: at, track: selector, synthesize: synthesize, observer: observer)]
            }[0]
        }
        return try store.read { r in
            let target = try resolveStep(step, r)
            let resolved = try resolve(selector, r)
            return try shadowsSynthesizingWhereNeeded([resolved], at: target, synthesize: synthesize, r, observer: observer)[0]
        }
    }

    /// Several shadows at one step in one pass over the raw steps (`sweep`).
    public func sweep(_ specs: [EMASpec], atStep step: Int?, synthesize: Bool = false,
                      observer: any ProgressObserver = SilentObserver()) throws -> [ShadowResult]
    {
        if !shards.isEmpty {
            return try shardedShadows(atStep: step) { rank, at in try rank.sweep(specs, atStep: at, synthesize: synthesize, observer: observer) }
        }
        return try store.read { r in
            let target = try resolveStep(step, r)
            let tracks = try r.tracks()
            let resolved = try specs.map { spec in
                let track = try tracks.first { try $0.profile().hasSameProfile(as: spec) }
                return ResolvedTrack(spec: spec, track: track)
            }
            return try shadowsSynthesizingWhereNeeded(resolved, at: target, synthesize: synthesize, r, observer: observer)
        }
    }

    func computeShadows(_ resolved: [ResolvedTrack], at target: Int, _ r: any LogReader,
                        observer: any ProgressObserver) throws -> [ShadowResult] {
        let replay = try Replay(reader: r)
        let logID = try r.logID()
        var starts: [Int?] = []
        let shadows = try resolved.map { item -> ShadowState in
            let shadow = try ShadowState(spec: item.spec, tensors: replay.tensors)
            if let track = item.track, let snapshot = try r.snapshot(track: track.id, atOrBefore: target) {
                try replay.load(snapshot, into: shadow)
            }
            starts.append(shadow.step)
            return shadow
        }
        do {
            try replay.advance(shadows, to: target) { done, total in observer.progress("replay", done: done, total: total) }
        } catch QueryError.rawNotKept {
            throw try rawNotKept(resolved, at: target, r)
        }
        let integers = try integerTensors(replay.tensors, at: target, r)
        return zip(resolved, zip(shadows, starts)).map { item, pair in
            ShadowResult(step: target, spec: item.spec, trackName: item.track?.name, startedFrom: pair.1,
                         tensors: replay.tensors, logID: logID, logPaths: [store.path], state: pair.0, integers: integers)
        }
    }

    /// Integer tensors are not averaged: a shadow holds their raw values at its step, or at the
    /// latest step before it whose raw weights were kept.
    func integerTensors(_ tensors: [TensorRecord], at target: Int, _ r: any LogReader) throws -> [Int64: [UInt8]] {
        var integers: [Int64: [UInt8]] = [:]
        let integerStep = try r.rawNeighbours(of: target + 1).below ?? target
        for tensor in tensors where !tensor.dtype.isFloating {
            var bytes = [UInt8](repeating: 0, count: tensor.byteCount)
            try bytes.withUnsafeMutableBytes { try r.readTensor(tensor, in: .step(integerStep), into: $0) }
            integers[tensor.id] = bytes
        }
        return integers
    }

    /// The refusal of a shadow that needs raw steps the log left out: the first of `resolved` that
    /// cannot be computed at `target`, with the nearest steps where it can.
    func rawNotKept(_ resolved: [ResolvedTrack], at target: Int, _ r: any LogReader) throws -> QueryError {
        let coverage = try RawCoverage(r)
        for item in resolved {
            let snapshots = try item.track.map { Set(try r.snapshots(track: $0.id).map(\.step)) } ?? []
            let answerable = coverage.answerable(snapshots: snapshots)
            guard !answerable.contains(target) else { continue }
            let start = answerable.last { $0 < target && snapshots.contains($0) } ?? coverage.steps.first?.step ?? 0
            let missing = coverage.steps.first { $0.step > start && $0.step <= target && !$0.raw }?.step ?? target
            let (below, above) = RawCoverage.nearest(answerable, to: target)
            let name = item.track?.name ?? item.spec.name
            return .rawNotKept(what: "the EMA \(name) at step \(target)" + (item.track == nil ? " (computed post hoc from the first step)" : ""),
                               missing: missing, below: below, above: above)
        }
        return .rawNotKept(what: "a replay to step \(target)", missing: target, below: nil, above: nil)
    }

    /// Writes the raw tensors of `step` (default: the latest) to `target` exactly as ingested, with the
    /// source file's metadata; returns the step written.
    @discardableResult
    public func writeRaw(atStep step: Int?, to target: OutputTarget) throws -> Int {
        let target = logPaths.reduce(target) { $0.protecting($1) }
        if !shards.isEmpty { return try writeShardedRaw(atStep: step, to: target) }
        return try store.read { r in
            let written = try resolveStep(step, r)
            let record = try r.stepRecord(written)!
            guard record.raw else {
                let (below, above) = try r.rawNeighbours(of: written)
                throw QueryError.rawNotKept(what: nil, missing: written, below: below, above: above)
            }
            let outputs = try r.tensors().map { tensor in
                OutputTensor(layout: tensor.layout) { emit in
                    try r.forEachChunk(of: tensor, in: .step(written)) { _, bytes in try emit(bytes) }
                }
            }
            try TensorOutput.write(outputs, metadata: record.metadata, to: target)
            return written
        }
    }

    /// Writes the raw tensors of `step` to `path` in `format`: `writeRaw(atStep:to:)` of `output(to:format:)`.
    @discardableResult
    public func writeRaw(atStep step: Int?, to path: String, format: OutputFormat) throws -> Int {
        try writeRaw(atStep: step, to: output(to: path, format: format))
    }
}
