import Dispatch
import EMALogFormats
import Foundation
import Synchronization

/// Stores raw steps in the log's format: each tensor cut into chunks (`ChunkLayout`), each chunk a
/// keyframe every `keyframeEvery` steps and a residual against the same chunk at the one or two
/// steps before it otherwise (`ResidualChain`), encoded on every core.
///
/// Keeps the steps appended last (the predecessors of the next one) and the write on the writer
/// queue. A step stored inside a transaction counts as a predecessor only once that transaction
/// has committed, so open the transactions that store steps with the appender's `write`. Use
/// from one thread.
public final class StepAppender {
    public let store: any LogStore
    let keyframeEvery: Int
    /// The last steps appended, newest first: the predecessors of the next one.
    private var recent: [any StepSource] = []
    /// Steps stored since the latest keyframe (0: the next step is a keyframe).
    private var sinceKeyframe = 0
    private var pendingWrite: PendingWrite?
    /// Inside `write`: the steps stored by the open transaction, taken as predecessors on commit.
    private var uncommitted: [any StepSource]?
    private let writer = DispatchQueue(label: "emalog.append.writer")

    /// Steps up to this size are encoded whole and written while the next one is prepared.
    public static let pipelinedStepBytes = 64 << 20

    public init(store: any LogStore, keyframeEvery: Int) {
        precondition(keyframeEvery >= 1)
        self.store = store
        self.keyframeEvery = keyframeEvery
    }

    deinit {
        // Coders hold scratch of several chunks; an appender's end is an ingest's.
        ChunkCoderPool.drain()
    }

    /// Whether a step of `bytes` tensor bytes may be appended with `appendPipelined`.
    public func canPipeline(bytes: Int) -> Bool { bytes <= Self.pipelinedStepBytes }

    /// The steps the next one is predicted from: none at a keyframe, and never one before the
    /// latest keyframe.
    private var predecessors: [any StepSource] {
        sinceKeyframe == 0 ? [] : Array(recent.prefix(min(ResidualChain.depth, sinceKeyframe)))
    }

    /// Appends a step whose transaction needs nothing else: its chunks are encoded whole here, then
    /// its record and chunks are written on the writer queue, in order after the write before,
    /// while the caller prepares the next step. A failure of that write is thrown by the next
    /// `waitForPendingWrite()`. `also` writes more in the same transaction (it runs on the writer
    /// queue, after the chunks).
    public func appendPipelined(_ record: StepRecord, _ source: any StepSource, tensors: [TensorRecord],
                                also: (@Sendable (any LogWriter) throws -> Void)? = nil) throws {
        let predecessors = self.predecessors
        let encoded = try withBytes(of: [source] + predecessors, tensors) { buffers in
            let runs = tensors.indices.map { k in
                ChunkRun(tensor: tensors[k], index: k, chunks: 0..<store.layout.count(of: tensors[k].byteCount),
                         bytes: buffers[0][k], predecessors: buffers.dropFirst().map { $0[k] })
            }
            for (k, run) in runs.enumerated() { willRead(k, run, [source] + predecessors) }
            return StepEncoder.encode(runs, layout: store.layout)
        }
        try checkUnchanged(source, predecessors)
        try encoded.confirm(against: [source] + predecessors)
        try awaitPending()
        let pending = PendingWrite()
        pending.group.enter()
        writer.async { [store] in
            pending.finish(Result { try store.write { w in
                try w.insertStep(record)
                let stored = try encoded.insert(step: record.step, into: w)
                try also?(w)
                return stored
            } })
        }
        pendingWrite = pending
        advance(source)
    }

    /// Bytes stored by pipelined writes already waited for, not yet reported.
    private var pendingBytes = 0

    /// Stores a new step's record and chunks inside `w`, a transaction opened with this appender's
    /// `write`, a few chunks at a time (chunks are encoded on every core in groups of about one
    /// chunk per core, small tensors together, and each group's pages released once stored), so
    /// memory stays at a few chunks whatever the tensor size. Returns the bytes stored.
    public func append(_ record: StepRecord, _ source: any StepSource, tensors: [TensorRecord], in w: any LogWriter) throws -> Int {
        precondition(uncommitted?.isEmpty == true, "append(in:) runs inside the appender's write {}, one step per transaction")
        let predecessors = self.predecessors
        try w.insertStep(record)
        let stored = try insertChunks(step: record.step, source, predecessors: predecessors, tensors: tensors, in: w)
        try checkUnchanged(source, predecessors)
        uncommitted = [source]
        return stored
    }

    /// Stores a step as keyframes inside `w` (an open transaction of this appender's `write`), beside
    /// any other step of that transaction: no predecessor, and it becomes none (a step the ingest
    /// held back and now keeps, e.g. one of the last N of a retention policy). Returns the bytes stored.
    public func appendKeyframe(_ record: StepRecord, _ source: any StepSource, tensors: [TensorRecord], in w: any LogWriter) throws -> Int {
        precondition(uncommitted != nil, "appendKeyframe(in:) runs inside the appender's write {}")
        try w.insertStep(record)
        let stored = try insertChunks(step: record.step, source, predecessors: [], tensors: tensors, in: w)
        try source.checkUnchanged()
        return stored
    }

    /// Runs `body` in one write transaction of the store, after the write on the writer queue (it
    /// waits for it: the bytes it stored are added to the next `waitForPendingWrite()`). A step
    /// `append`ed in `body` becomes the next step's predecessor when the transaction commits; when
    /// it fails, the next step is a keyframe.
    public func write<T>(_ body: (any LogWriter) throws -> T) throws -> T {
        precondition(uncommitted == nil, "write {} does not nest")
        try awaitPending()
        uncommitted = []
        defer { uncommitted = nil }
        do {
            let result = try store.write(body)
            if let source = uncommitted?.first { advance(source) }
            return result
        } catch {
            forgetPredecessors()
            throw error
        }
    }

    /// Replaces stored step `record.step` with `source` (`--replace`) inside `w`: the steps whose
    /// residuals reach back to it are re-encoded without it, its record is replaced and its chunks
    /// stored as keyframes. Returns the bytes stored.
    public func replace(_ record: StepRecord, _ source: any StepSource, tensors: [TensorRecord], in w: any LogWriter) throws -> Int {
        precondition(uncommitted != nil, "replace(in:) runs inside the appender's write {}")
        forgetPredecessors()  // the next new step is a keyframe
        try w.detachDependents(ofStep: record.step, tensors: tensors)
        try w.replaceStep(record)
        let stored = try insertChunks(step: record.step, source, predecessors: [], tensors: tensors, in: w)
        try source.checkUnchanged()
        return stored
    }

    /// Makes the next step a keyframe, and the keyframe interval count from it (a retention
    /// policy's kept steps: leaving out the steps before them then re-encodes nothing after them).
    public func keyframeNext() { sinceKeyframe = 0 }

    /// Forgets the steps appended last: the next step is a keyframe (after a replaced step, or a
    /// step that was read but not stored).
    public func forgetPredecessors() { recent.removeAll() }

    /// Waits for the write on the writer queue and takes its outcome: the bytes stored since the
    /// last call, or the write's error.
    public func waitForPendingWrite() throws -> Int {
        try awaitPending()
        defer { pendingBytes = 0 }
        return pendingBytes
    }

    private func awaitPending() throws {
        guard let pending = pendingWrite else { return }
        pendingWrite = nil
        pending.group.wait()
        do {
            pendingBytes += try pending.result.withLock { $0 }.get()
        } catch {
            forgetPredecessors()  // that step is not stored: nothing may be predicted from it
            throw error
        }
    }

    private func advance(_ source: any StepSource) {
        recent.insert(source, at: 0)
        if recent.count > ResidualChain.depth { recent.removeLast() }
        sinceKeyframe = (sinceKeyframe + 1) % keyframeEvery
    }

    private func checkUnchanged(_ source: any StepSource, _ predecessors: [any StepSource]) throws {
        try source.checkUnchanged()
        for p in predecessors { try p.checkUnchanged() }
    }

    /// Encodes and inserts groups of about one chunk per core; returns the bytes stored.
    private func insertChunks(step: Int, _ source: any StepSource, predecessors: [any StepSource], tensors: [TensorRecord],
                              in w: any LogWriter) throws -> Int {
        let layout = store.layout
        let sources = [source] + predecessors
        return try withBytes(of: sources, tensors) { buffers in
            var stored = 0
            var group: [(tensor: Int, run: ChunkRun)] = []
            var groupBytes = 0
            func flush() throws {
                guard !group.isEmpty else { return }
                for (k, run) in group { willRead(k, run, sources) }
                let encoded = StepEncoder.encode(group.map(\.run), layout: layout)
                try encoded.confirm(against: sources)
                stored += try encoded.insert(step: step, into: w)
                for (k, run) in group {
                    let span = layout.span(run.chunks, of: run.bytes.count)
                    for s in sources { s.release(tensor: k, span) }
                }
                group.removeAll()
                groupBytes = 0
            }
            let perGroup = max(2, Cores.count)  // one chunk per core at a time
            for (k, tensor) in tensors.enumerated() {
                let count = layout.count(of: tensor.byteCount)
                var start = 0
                while start < count {
                    let end = min(count, start + perGroup)
                    group.append((k, ChunkRun(tensor: tensor, index: k, chunks: start..<end, bytes: buffers[0][k],
                                              predecessors: buffers.dropFirst().map { $0[k] })))
                    groupBytes += layout.span(start..<end, of: tensor.byteCount).count
                    if groupBytes >= perGroup * layout.chunkBytes { try flush() }
                    start = end
                }
            }
            try flush()
            return stored
        }
    }

    private func willRead(_ tensor: Int, _ run: ChunkRun, _ sources: [any StepSource]) {
        let span = store.layout.span(run.chunks, of: run.bytes.count)
        for s in sources { s.willRead(tensor: tensor, span) }
    }

    /// Calls `body` with the bytes of `tensors` in each of `sources` (at most three: a step and its
    /// predecessors), all valid during the call.
    private func withBytes<R>(of sources: [any StepSource], _ tensors: [TensorRecord],
                              _ body: ([[UnsafeRawBufferPointer]]) throws -> R) throws -> R {
        func nest(_ k: Int, _ gathered: [[UnsafeRawBufferPointer]]) throws -> R {
            guard k < sources.count else { return try body(gathered) }
            return try sources[k].withBytes(of: tensors) { try nest(k + 1, gathered + [$0]) }
        }
        return try nest(0, [])
    }
}

/// A step transaction running on the appender's writer queue; `result` is set before `group` is left.
private final class PendingWrite: Sendable {
    let group = DispatchGroup()
    let result = Mutex<Result<Int, any Error>>(.success(0))

    func finish(_ outcome: Result<Int, any Error>) {
        result.withLock { $0 = outcome }
        group.leave()
    }
}
