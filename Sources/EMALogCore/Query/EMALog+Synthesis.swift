import EMAKernel
import EMALogFormats
import EMALogStore

extension EMALog {
    /// The spec `--sigma-rel R` stands for: the power-function EMA of σ_rel R, in the form (and on
    /// the clock) of the log's power tracks when they share one, else EDM2's (`form=lerp`), so the
    /// replay and the synthesis answer the same question.
    public func sigmaRelSpec(_ sigma: Double) throws -> String {
        let specs = try store.read { r in try r.tracks().map { try $0.profile() } }.filter(Self.isSynthesizable)
        let forms = Set(specs.map(\.form)), clocks = Set(specs.map(\.clock))
        var text = "name=sigma-rel-\(EMASpec.format(sigma)),schedule=power,sigma_rel=\(EMASpec.format(sigma))"
        text += ",form=\(forms.count == 1 ? forms.first!.rawValue : EMASpec.Form.lerp.rawValue)"
        if clocks.count == 1, let clock = clocks.first, clock != .step { text += ",clock=\(clock.rawValue)" }
        return text
    }

    /// Whether `spec` can be synthesised: a plain power-function EMA (`schedule=power`, updated at
    /// every step from the first).
    static func isSynthesizable(_ spec: EMASpec) -> Bool {
        spec.schedule == .power && spec.per == .update && spec.after == 0 && spec.every == 1
    }

    /// Shadows of `resolved` at `target`: the untracked power-function EMAs by EDM2's synthesis
    /// when `synthesize` is set or the log left out raw steps a replay from the first step needs;
    /// every other one (and those, when the raw steps allow) by replay, exactly.
    func shadowsSynthesizingWhereNeeded(_ resolved: [ResolvedTrack], at target: Int, synthesize: Bool, _ r: any LogReader,
                                        observer: any ProgressObserver) throws -> [ShadowResult] {
        let candidates = resolved.indices.filter { resolved[$0].track == nil && Self.isSynthesizable(resolved[$0].spec) }
        if synthesize, let other = resolved.first(where: { $0.track != nil || !Self.isSynthesizable($0.spec) }) {
            let why = other.track.map { "'\($0.name)' is a stored track, read exactly from its snapshots" }
                ?? "\(other.spec.name) is not a power-function EMA (schedule=power)"
            throw QueryError.cannotSynthesize(reason: why + "; synthesis makes untracked power-function EMAs")
        }
        let replayable = try r.rawStepNumbers(in: 0...target).count == r.stepNumbers(in: 0...target).count
        guard !candidates.isEmpty, synthesize || !replayable else { return try computeShadows(resolved, at: target, r, observer: observer) }
        let made: [ShadowResult]
        do {
            made = try synthesizedShadows(candidates.map { resolved[$0].spec }, at: target, r)
        } catch let QueryError.cannotSynthesize(reason) where !synthesize {
            // Neither a replay nor a synthesis: the refusal names the steps a replay can answer.
            guard case let .rawNotKept(what, missing, below, above) = try rawNotKept(candidates.map { resolved[$0] }, at: target, r) else {
                throw QueryError.cannotSynthesize(reason: reason)
            }
            throw QueryError.rawNotKept(what: (what ?? "a replay to step \(target)") + " (no synthesis from snapshots either: \(reason))",
                                        missing: missing, below: below, above: above)
        }
        let rest = resolved.indices.filter { !candidates.contains($0) }
        let replayed = rest.isEmpty ? [] : try computeShadows(rest.map { resolved[$0] }, at: target, r, observer: observer)
        var results: [ShadowResult?] = Array(repeating: nil, count: resolved.count)
        for (i, result) in zip(candidates, made) { results[i] = result }
        for (i, result) in zip(rest, replayed) { results[i] = result }
        return results.map { $0! }
    }

    /// EDM2's post-hoc synthesis (`solve_posthoc_coefficients`, then the weighted sum of
    /// `reconstruct_phema`): the snapshots at or before `target` (step > 0) of every stored
    /// `schedule=power` track, in order of step then σ_rel, weigh in with the coefficients that fit
    /// each spec's profile at `target` best; the sum is accumulated in Float32 as EDM2 does
    /// (each product rounded, then each sum). `target` must be a snapshot step of those tracks.
    func synthesizedShadows(_ requested: [EMASpec], at target: Int, _ r: any LogReader) throws -> [ShadowResult] {
        let replay = try Replay(reader: r)
        var inputs: [(track: TrackRecord, spec: EMASpec, snapshot: SnapshotRecord)] = []
        var clocks = Set<EMASpec.Clock>()
        for track in try r.tracks() {
            let spec = try track.profile()
            guard Self.isSynthesizable(spec) else { continue }
            clocks.insert(spec.clock)
            for snapshot in try r.snapshots(track: track.id) where snapshot.step > 0 && snapshot.step <= target {
                inputs.append((track, spec, snapshot))
            }
        }
        let powerTracks = Set(inputs.map(\.track.id)).count
        guard powerTracks >= 2 else {
            throw QueryError.cannotSynthesize(reason: "it needs the snapshots of two or more schedule=power tracks; the log has "
                + "\(powerTracks)")
        }
        guard clocks.count == 1, let clock = clocks.first else {
            throw QueryError.cannotSynthesize(reason: "the power tracks run on different clocks (EDM2's step and ema-pytorch's karras); "
                + "each synthesis uses one library's rule")
        }
        guard inputs.contains(where: { $0.snapshot.step == target }) else {
            let steps = Set(try r.tracks().flatMap { try r.snapshots(track: $0.id).map(\.step) }).sorted()
            let (below, above) = RawCoverage.nearest(steps, to: target)
            throw QueryError.cannotSynthesize(reason: "step \(target) holds no snapshot of the power tracks; snapshot steps: "
                + [below.map { "the nearest before is \($0)" }, above.map { "the nearest after is \($0)" }].compactMap { $0 }
                    .joined(separator: ", "))
        }
        // The result is a profile of the tracks' kind. EDM2 (clock=step) normalises the
        // coefficients; ema-pytorch's PostHocEMA (clock=karras) does not, and takes every γ
        // through `torch.tensor`, rounded to Float32.
        let forms = Set(inputs.map(\.spec.form))
        let specs = requested.map { spec -> EMASpec in
            var made = spec
            made.clock = clock
            if forms.count == 1, let form = forms.first { made.form = form }  // the sum of the tracks' snapshots
            if spec.name == spec.defaultName { made.name = made.defaultName }
            return made
        }
        let karras = clock == .karras
        func solveGamma(_ gamma: Double) -> Double { karras ? Double(Float(gamma)) : gamma }
        inputs.sort { ($0.snapshot.step, PostHocSynthesis.sigmaRel(gamma: $0.spec.gamma)) < ($1.snapshot.step, PostHocSynthesis.sigmaRel(gamma: $1.spec.gamma)) }
        let profiles = inputs.map { PostHocSynthesis.Profile(time: Double($0.snapshot.step), gamma: solveGamma($0.spec.gamma)) }
        let solutions = try specs.map { spec -> PostHocSynthesis.Solution in
            guard let solution = PostHocSynthesis.solve(inputs: profiles, target: .init(time: Double(target), gamma: solveGamma(spec.gamma)),
                                                        normalize: !karras) else {
                throw QueryError.cannotSynthesize(reason: "the snapshots' profiles are not independent (the least squares is singular)")
            }
            return solution
        }
        let outputs = try specs.map { try ShadowState(spec: $0, tensors: replay.tensors) }
        let input = try ShadowState(spec: inputs[0].spec, tensors: replay.tensors)
        for (i, item) in inputs.enumerated() {
            try replay.load(item.snapshot, into: input)
            for (k, output) in outputs.enumerated() {
                output.accumulate(input, times: Float(solutions[k].coefficients[i]), tensors: replay.floating)
            }
        }
        let integers = try integerTensors(replay.tensors, at: target, r)
        let logID = try r.logID()
        outputs.forEach { $0.step = target }
        return zip(specs, zip(outputs, solutions)).map { spec, pair in
            var result = ShadowResult(step: target, spec: spec, trackName: nil, startedFrom: nil, tensors: replay.tensors, logID: logID,
                                      logPaths: [store.path], state: pair.0, integers: integers)
            result.synthesis = ShadowResult.Synthesis(
                relativeError: pair.1.relativeError,
                inputs: zip(inputs, pair.1.coefficients).map { .init(track: $0.0.track.name, step: $0.0.snapshot.step, coefficient: $0.1) })
            return result
        }
    }
}
