import EMAKernel
import EMALogFormats
import EMALogStore

/// How an EMA follows the weights: its relative distance to them and the decay it applied, per step.
public struct TrackCurve: Sendable {
    /// The track's name (a post-hoc spec's name).
    public var name: String
    /// The canonical spec.
    public var spec: String
    /// Every step of the log, and ||shadow − θ|| / ||θ|| after that step's update (NaN where ||θ|| is 0).
    public var steps: [Int]
    public var relativeDistance: [Double]
    /// The steps where the shadow changed, and the decay of each (0 at the first step, which the
    /// shadow copies, and while `after` holds it to the weights); steps an `every` skips are left out.
    public var decaySteps: [Int]
    public var decays: [Double]
}

/// The distances and decays of a log's EMAs over the whole run (`plot --tracks`).
public struct TrackDiagnostics: Sendable {
    /// The tensor measured, nil for all floating tensors together.
    public var tensor: String?
    /// Elements measured.
    public var parameters: Int
    public var curves: [TrackCurve]
    /// On a log whose retention policy left out raw steps: the distances are replayed through this
    /// step, the last before the first step without raw weights (a replay from the first step needs
    /// them all), and after it a stored track's are drawn at its snapshot steps with raw weights;
    /// the decays cover every step. Nil when every step kept its raw weights.
    public var distancesThrough: Int?
}

extension EMALog {
    /// Replays every track (and each of `extra`, tracked or post hoc) from the first step to the
    /// last in one pass over the raw steps, measuring after each step how far each shadow is from
    /// the weights, over every floating tensor or only `tensor`. Without tracks or `extra`, throws
    /// `QueryError.noTracks`. A sharded training is measured rank by rank over the slices each
    /// holds for the whole model (`ShardMap`), its sums added.
    public func trackDiagnostics(extra: [String] = [], tensor: String? = nil,
                                 observer: any ProgressObserver = SilentObserver()) throws -> TrackDiagnostics {
        guard !shards.isEmpty else {
            let sums = try store.read { r in try distanceSums(r, extra: extra, tensor: tensor, held: { _ in true }, observer) }
            return sums.diagnostics(tensor: tensor, path: store.path, observer)
        }
        let map = try shardMap()
        if let tensor, !map.tensors.contains(where: { $0.record.name == tensor && $0.record.dtype.isFloating }) {
            throw QueryError.unknownTensor(tensor, available: map.tensors.map(\.record).filter { $0.dtype.isFloating }.map(\.name))
        }
        var total: DistanceTotals?
        for (rank, log) in shards.enumerated() {
            let held = Set(map.tensors.flatMap { $0.pieces.filter { $0.rank == rank }.map(\.local.name) })
            let sums = try log.store.read { r in try log.distanceSums(r, extra: extra, tensor: nil, held: {
                held.contains($0.name) && (tensor == nil || $0.name == tensor)
            }, observer) }
            guard var sum = total else { total = sums; continue }
            guard sum.steps == sums.steps, sum.specs.map(\.canonical) == sums.specs.map(\.canonical) else {
                throw QueryError.shardsDisagree(name: shardGroup ?? "", detail: "rank \(rank)'s steps or tracks differ from rank 0's")
            }
            sum.add(sums)
            total = sum
        }
        return total!.diagnostics(tensor: tensor, path: shardGroup ?? store.path, observer)
    }

    /// One log's squared distances and norms per step (over the floating tensors `held` accepts).
    private func distanceSums(_ r: any LogReader, extra: [String], tensor: String?, held: (TensorRecord) -> Bool,
                              _ observer: any ProgressObserver) throws -> DistanceTotals {
        guard let first = try r.firstStep(), let last = try r.lastStep() else { throw QueryError.emptyLog(path: store.path) }
        let stored = try r.tracks()
        var specs = try stored.map { try $0.profile() }
        for text in extra {
            if stored.contains(where: { $0.name == text }) { continue }  // a track: drawn already
            var spec = try resolve(.nameOrSpec(text), r).spec  // a bad spec throws here, worded as for shadow
            if let own = try? EMASpec(parsing: text) { spec = own }  // its own name, even with a tracked profile
            if let same = specs.first(where: { $0.name == spec.name }) {
                if same.hasSameProfile(as: spec) { continue }
                throw QueryError.trackNameTaken(spec.name, spec: same.canonical)
            }
            specs.append(spec)
        }
        guard !specs.isEmpty else { throw QueryError.noTracks }
        let all = try r.tensors()
        if let tensor {
            guard let found = all.first(where: { $0.name == tensor }), found.dtype.isFloating else {
                throw QueryError.unknownTensor(tensor, available: all.filter { $0.dtype.isFloating }.map(\.name))
            }
        }
        let replay = try Replay(reader: r, including: { (tensor == nil || $0.name == tensor) && held($0) })
        let shadows = try specs.map { try ShadowState(spec: $0, tensors: replay.tensors) }
        let records = try r.stepRecords(in: first...last)
        let steps = records.map(\.step)
        // A thinned log: the replay goes as far as the raw steps from the first allow.
        let gap = records.firstIndex { !$0.raw }
        let rawSteps = Set(records.filter(\.raw).map(\.step))
        let measured = gap.map { Array(steps[..<$0]) } ?? steps
        let measure = DistanceSums(shadows: shadows, steps: measured)
        if let end = measured.last {
            try replay.advance(shadows, to: end, measuring: measure) { done, total in
                observer.progress("replay", done: done, total: total)
            }
        }
        let (theta, distances) = measure.totals()
        var sums = DistanceTotals(specs: specs, steps: steps, firstStep: first, measured: measured, gap: gap.map { steps[$0] },
                                  theta: theta, distances: distances, snapshots: specs.map { _ in [] },
                                  parameters: replay.floating.reduce(0) { $0 + $1.elementCount })
        // Past the replay, a stored track's snapshots at steps with raw weights are points too.
        if gap != nil, let end = measured.last {
            for k in stored.indices {
                for snapshot in try r.snapshots(track: stored[k].id) where snapshot.step > end && rawSteps.contains(snapshot.step) {
                    let point = try SnapshotDistance.sums(snapshot, step: snapshot.step, tensors: replay.floating, r)
                    sums.snapshots[k].append((snapshot.step, point.distance, point.theta))
                }
            }
        }
        return sums
    }
}

/// What one log (or one rank) measured for `trackDiagnostics`: squared sums, so ranks add up.
struct DistanceTotals {
    var specs: [EMASpec]
    var steps: [Int]
    var firstStep: Int
    var measured: [Int]
    /// The first step without raw weights, nil when every step has them.
    var gap: Int?
    var theta: [Double]
    var distances: [[Double]]
    /// Per spec: (step, squared distance, squared norm) at snapshot steps past the replay.
    var snapshots: [[(step: Int, distance: Double, theta: Double)]]
    var parameters: Int

    /// Adds another rank's sums (the same steps and specs).
    mutating func add(_ other: DistanceTotals) {
        theta = zip(theta, other.theta).map { $0 + $1 }
        distances = zip(distances, other.distances).map { zip($0, $1).map { $0 + $1 } }
        snapshots = zip(snapshots, other.snapshots).map { mine, theirs in
            mine.compactMap { point in
                theirs.first { $0.step == point.step }.map { (point.step, point.distance + $0.distance, point.theta + $0.theta) }
            }
        }
        parameters += other.parameters
    }

    /// The curves: relative distances, and the decays each spec applied at every step.
    func diagnostics(tensor: String?, path: String, _ observer: any ProgressObserver) -> TrackDiagnostics {
        let curves = specs.enumerated().map { k, spec in
            var decaySteps: [Int] = [], decays: [Double] = []
            var previous: Int?
            for step in steps {
                defer { previous = step }
                switch ShadowUpdate.action(for: spec, hasState: previous != nil, step: step, firstStep: firstStep,
                                           previousStep: previous) {
                case .initialize:
                    decaySteps.append(step)
                    decays.append(0)
                case .update:
                    decaySteps.append(step)
                    decays.append(spec.decay(at: StepPosition(step: step, firstStep: firstStep, previousStep: previous!)))
                case .keep:
                    continue
                }
            }
            var relative = zip(distances[k], theta).map { d, t in t > 0 ? (d / t).squareRoot() : .nan }
            var curveSteps = measured
            for point in snapshots[k] {
                curveSteps.append(point.step)
                relative.append(point.theta > 0 ? (point.distance / point.theta).squareRoot() : .nan)
            }
            return TrackCurve(name: spec.name, spec: spec.canonical, steps: curveSteps, relativeDistance: relative,
                              decaySteps: decaySteps, decays: decays)
        }
        if let gap {
            observer.warning("\(path): the distances are replayed through step \(measured.last ?? firstStep) and then drawn "
                + "at the tracks' snapshot steps only: the log's retention policy left out the raw weights of step \(gap) "
                + "and others after it (the decays cover every step)")
        }
        return TrackDiagnostics(tensor: tensor, parameters: parameters, curves: curves,
                                distancesThrough: gap == nil ? nil : (measured.last ?? firstStep))
    }
}

extension TrackDiagnostics {
    /// The same curves, only the steps in `from...to` (either end open when nil).
    public func restricted(from: Int?, to: Int?) -> TrackDiagnostics {
        guard from != nil || to != nil else { return self }
        let range = (from ?? Int.min)...(to ?? Int.max)
        var copy = self
        copy.curves = curves.map { curve in
            var c = curve
            let kept = curve.steps.indices.filter { range.contains(curve.steps[$0]) }
            c.steps = kept.map { curve.steps[$0] }
            c.relativeDistance = kept.map { curve.relativeDistance[$0] }
            let keptDecays = curve.decaySteps.indices.filter { range.contains(curve.decaySteps[$0]) }
            c.decaySteps = keptDecays.map { curve.decaySteps[$0] }
            c.decays = keptDecays.map { curve.decays[$0] }
            return c
        }
        return copy
    }
}
