import Dispatch
import Foundation
import EMAKernel
import EMALogFormats
public import EMALogStore
import Synchronization

/// Re-derives shadows from the log: load a snapshot (or start at the first step), then replay raw steps.
public struct Replay {
    let reader: any LogReader
    let tensors: [TensorRecord]
    let floating: [TensorRecord]

    /// Reads the tensor set; steps are read as a replay needs them (only the ones it goes
    /// through, so a shadow near a snapshot costs the same in a log of 100k steps as of 1k).
    public init(reader: any LogReader) throws {
        self.reader = reader
        tensors = try reader.tensors()
        floating = tensors.filter { $0.dtype.isFloating }
    }

    /// A replay of the floating tensors `included` picks (shadows still hold every floating tensor;
    /// the others stay as they are): a diagnostic of one tensor decodes that tensor alone.
    init(reader: any LogReader, including included: (TensorRecord) -> Bool) throws {
        self.reader = reader
        tensors = try reader.tensors()
        floating = tensors.filter { $0.dtype.isFloating && included($0) }
    }

    /// The stored step just before `step`, if any.
    public func step(before step: Int) throws -> Int? {
        try reader.neighbours(of: step).below
    }

    /// Loads a snapshot's Float32 bytes into `shadow`.
    public func load(_ snapshot: SnapshotRecord, into shadow: ShadowState) throws {
        guard let at = try self.step(before: snapshot.step + 1), at == snapshot.step else {
            throw StoreError.inconsistent("snapshot \(snapshot.id) is at step \(snapshot.step), which the log does not hold")
        }
        for tensor in floating {
            try shadow.withMutableBytes(of: tensor) { try reader.readTensor(tensor, in: .snapshot(snapshot.id), into: $0) }
        }
        shadow.step = snapshot.step
    }

    /// Advances every shadow to `target`; each starts where it stands (its `step`, or before the
    /// first step). Each chunk of each tensor is decoded step after step (from its keyframe) and
    /// applied to the shadows' matching slice; chunks run side by side on the cores in batches of
    /// `batchBytes`, so memory stays at the shadows plus a few chunks.
    /// `progress` gets (chunk-steps done, chunk-steps in all).
    public func advance(_ shadows: [ShadowState], to target: Int, progress: (Int, Int) -> Void = { _, _ in }) throws {
        try advance(shadows, to: target, measuring: nil, progress: progress)
    }

    /// `advance`, gathering into `measure` (when given) each step's sums of squares of the raw
    /// weights and of each shadow's distance to them, after that step's update.
    func advance(_ shadows: [ShadowState], to target: Int, measuring measure: DistanceSums?,
                 progress: (Int, Int) -> Void = { _, _ in }) throws {
        guard let firstStep = try reader.firstStep() else { return }
        var current = shadows.map(\.step)
        let begin = current.map { $0 ?? Int.min }.min() ?? target
        guard begin < target else { return }
        // The EMA's previous step is the log's (every step counts); the decoder's is the previous
        // step with raw weights (a retention policy leaves some out): the same inside the replay,
        // which needs every step's raw weights.
        var previous = begin == Int.min ? nil : try step(before: begin + 1)
        var decodePrevious = begin == Int.min ? nil : try reader.rawNeighbours(of: begin + 1).below
        var plan: [(step: Int, previous: Int?, actions: [(ShadowState, ShadowUpdate.Action)])] = []
        for record in try reader.stepRecords(in: (begin + 1)...target) {
            let s = record.step
            guard record.raw else {
                throw QueryError.rawNotKept(what: "a replay to step \(target)", missing: s, below: nil, above: nil)
            }
            var actions: [(ShadowState, ShadowUpdate.Action)] = []
            for (k, shadow) in shadows.enumerated() where (current[k] ?? Int.min) < s {
                actions.append((shadow, ShadowUpdate.action(for: shadow.spec, hasState: current[k] != nil, step: s,
                                                            firstStep: firstStep, previousStep: previous)))
                current[k] = s
            }
            plan.append((s, decodePrevious, actions))
            previous = s
            decodePrevious = s
        }
        guard let first = plan.first else { return }
        // One unit per chunk of each floating tensor, each with its own sequence of steps: the
        // plan, preceded by the steps from its keyframe when the plan starts mid-interval (decoded,
        // not applied).
        var units: [ReplayUnit] = []
        var warmUps: [Int: [(step: Int, previous: Int?, actions: [(ShadowState, ShadowUpdate.Action)])]] = [:]
        for tensor in floating {
            for (index, range) in reader.layout.ranges(of: tensor).enumerated() {
                let keyframe = try reader.keyframeStep(tensor: tensor, chunkIndex: index, atOrBefore: first.step)
                if warmUps[keyframe] == nil {
                    warmUps[keyframe] = keyframe < first.step
                        ? try decodedOnly(reader.rawStepNumbers(in: keyframe...(first.step - 1))) : []
                }
                let warmUp = warmUps[keyframe]!
                units.append(ReplayUnit(tensor: tensor, chunkIndex: index, range: range, items: warmUp + plan))
            }
        }
        // Batches bound memory: each unit holds its chunk at about four steps (two for the
        // prediction, one recycled, one fetched ahead), and only while its batch runs.
        try runInBatches(units, measure: measure, progress: progress)
        for (k, shadow) in shadows.enumerated() { shadow.step = current[k] }
    }

    /// Decodes every floating chunk of every step up to `target` (checksums and sizes), applying
    /// nothing: what a replay reads, without shadows (an audit of a log without tracks).
    public func decodeAll(through target: Int, progress: (Int, Int) -> Void = { _, _ in }) throws {
        guard let first = try reader.firstStep(), first <= target else { return }
        let items = try decodedOnly(reader.rawStepNumbers(in: first...target))
        var units: [ReplayUnit] = []
        for tensor in floating {
            for (index, range) in reader.layout.ranges(of: tensor).enumerated() {
                units.append(ReplayUnit(tensor: tensor, chunkIndex: index, range: range, items: items))
            }
        }
        try runInBatches(units, measure: nil, progress: progress)
    }

    /// Plan items for `stepList` (consecutive steps with raw weights, ascending) that decode each
    /// step and apply nothing.
    private func decodedOnly(_ stepList: [Int]) throws -> [(step: Int, previous: Int?, actions: [(ShadowState, ShadowUpdate.Action)])] {
        guard let first = stepList.first else { return [] }
        var previous = try reader.rawNeighbours(of: first).below
        return stepList.map { s in
            defer { previous = s }
            return (step: s, previous: previous, actions: [])
        }
    }

    /// Runs `units` in batches of about `batchBytes` of chunks, reporting chunk-steps done.
    private func runInBatches(_ units: [ReplayUnit], measure: DistanceSums?, progress: (Int, Int) -> Void) throws {
        var batch: [ReplayUnit] = [], batchBytes = 0
        let total = units.reduce(0) { $0 + $1.items.count }
        var done = 0
        for unit in units {
            if !batch.isEmpty && batchBytes + unit.range.count > Self.batchBytes {
                try run(batch, measure: measure) { done += 1; progress(done, total) }
                batch = []
                batchBytes = 0
            }
            batch.append(unit)
            batchBytes += unit.range.count
        }
        try run(batch, measure: measure) { done += 1; progress(done, total) }
    }

    /// Raw chunk bytes replayed side by side (four 16 MiB chunks: both cores busy, memory small).
    static let batchBytes = 64 << 20

    /// Decoded bytes a batch may hold for applying several steps at once.
    static let spanBytes = 128 << 20

    /// Steps each unit decodes before applying them together (`ShadowUpdate.apply(steps:…)`):
    /// each shadow's block then takes them all while it is in cache, so a sweep of many decays
    /// reads and writes each shadow once per round instead of once per step. The decoded steps
    /// then leave the cache before they are applied, which costs more than it saves for one or
    /// two shadows: those apply each step as it is decoded. Up to 8 steps, as many as `spanBytes`
    /// holds for this batch.
    static func stepsPerRound(batchBytes: Int, shadows: Int) -> Int {
        shadows <= 2 ? 1 : max(1, min(8, spanBytes / max(1, batchBytes)))
    }

    /// Step-major over the units, a round of a few steps at a time: the chunks of round k + 1 are
    /// fetched on this thread (the only one that touches the store) while the workers decode and
    /// apply round k, one unit each.
    private func run(_ units: [ReplayUnit], measure: DistanceSums?, stepDone: () -> Void) throws {
        let total = units.reduce(0) { $0 + $1.range.count }
        let shadows = units.lazy.flatMap(\.items).map(\.actions.count).max() ?? 0
        let span = Self.stepsPerRound(batchBytes: total, shadows: shadows)
        let rounds = ((units.map(\.items.count).max() ?? 0) + span - 1) / span
        let batch = ReplayBatch(units: units, threads: units.map { segmentThreads(chunk: $0.range.count, total: total) },
                                span: span, measure: measure)
        func fetch(_ round: Int) throws -> [[StoredChunk]] {
            try units.map { unit in
                try unit.items[min(round * span, unit.items.count)..<min((round + 1) * span, unit.items.count)].map {
                    try reader.storedChunk(of: unit.tensor, index: unit.chunkIndex, step: $0.step)
                }
            }
        }
        var pending = try fetch(0)
        let queue = DispatchQueue(label: "emalog.replay", attributes: .concurrent)
        let failures = Mutex<[any Error]>([])
        for round in 0..<rounds {
            let group = DispatchGroup()
            for u in units.indices where !pending[u].isEmpty {
                let chunks = pending[u]
                queue.async(group: group) {
                    do { try batch.decodeAndApply(unit: u, round: round, chunks) } catch { failures.withLock { $0.append(error) } }
                }
            }
            let done = pending.reduce(0) { $0 + $1.count }
            var fetchFailure: (any Error)?
            if round + 1 < rounds {
                do { pending = try fetch(round + 1) } catch { fetchFailure = error }
            }
            group.wait()
            if let failure = failures.withLock({ $0.first }) ?? fetchFailure { throw failure }
            for _ in 0..<done { stepDone() }
        }
    }
}

/// One chunk of one tensor in a replay, and the steps it goes through.
struct ReplayUnit {
    let tensor: TensorRecord
    let chunkIndex: Int
    let range: Range<Int>
    let items: [(step: Int, previous: Int?, actions: [(ShadowState, ShadowUpdate.Action)])]
}
