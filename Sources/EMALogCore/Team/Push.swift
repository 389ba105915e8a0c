import EMALogFormats
import EMALogStore
import Foundation

/// `emalog push`: copies a local log into a run of a team store, sending only what the run
/// lacks, over the `PushTarget` protocol (the backend decides how rows and bodies are written).
/// Each step's rows (its record, chunk rows, the snapshots taken at it) commit in one
/// transaction, in step order, so the run is always a prefix of the log that every reader can
/// use; what they name is sent first (`PushWorker.stage`). A push killed at any moment leaves at
/// most bodies nothing names yet, which the next push reuses.
enum Push {
    /// Pushes the log `open()` opens (called once per worker, so reads run side by side) to run
    /// `requested` (default: the log's id) of the store `connect()` reaches, over `connections` workers. `shard`: the
    /// log is rank `rank` of `count` of sharded run `requested` (required then); it is pushed as
    /// run `requested/rankR`, and read with the other ranks as the full tensors.
    static func push(open: @escaping @Sendable () throws -> any LogStore, to connect: () throws -> any PushTarget, run requested: String?,
                     shard: (rank: Int, count: Int)?, connections: Int, repair: Bool, hooks: PushHooks,
                     progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) throws -> PushReport {
        let start = Date()
        // The log first: a missing or damaged log is named as such, whether or not the server answers.
        let local = try open()
        defer { try? local.close() }
        let logID = try local.read { r in try r.logID() }
        let target = try connect()
        defer { target.close() }
        if shard != nil && requested == nil { throw StoreError.inconsistent("a rank of a sharded run needs the run's name") }
        let name = shard.map { "\(requested!)/rank\($0.rank)" } ?? requested ?? logID
        var report = PushReport()
        report.run = name
        guard !name.isEmpty else { throw StoreError.inconsistent("the log has no id; give --run NAME") }

        // What the log holds now, read under the run's lock: a push that waited for another one
        // plans against what that one pushed (later steps an ingest commits meanwhile wait for
        // the next push).
        try target.lock(run: name)
        let plan = try local.read { r in try PushPlan(r) }
        try target.open(run: name, plan: plan, layout: local.layout,
                        shard: shard.map { ShardPlace(group: requested!, rank: $0.rank, count: $0.count) })
        report.headerChanged = try target.writeHeader(plan)
        let work = try plan.work(against: try target.state())
        if let after = work.removeAfter { report.removedSteps = try target.deleteSteps(after: after) }
        report.replacedSteps = work.replaced.count
        if !work.staleSnapshots.isEmpty {
            try target.deleteSnapshots(work.staleSnapshots)
            report.deletedSnapshots = work.staleSnapshots.count
        }

        report.add(try pushItems(work.items, plan: plan, open: open, local: local, target: target, connections: connections,
                                 hooks: hooks, progress: progress))

        if try target.writePins(plan) > 0 { report.headerChanged = true }
        let (blocks, values) = try local.read { r in try target.writeMetrics(r, plan: plan) }
        report.metricBlocks = blocks
        report.metricValues = values
        // Last: a repair this log cannot make leaves the rest of the push done.
        if repair { report.repairedBodies += try local.read { r in try target.repairBodies(r, plan: plan) } }
        if !report.upToDate { try target.recountTotals() }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Steps in order over `connections` workers: each reads and stages its items, then commits
    /// each when the item before it has committed.
    private static func pushItems(_ items: [PushItem], plan: PushPlan, open: @escaping @Sendable () throws -> any LogStore,
                                  local: any LogStore, target: any PushTarget, connections: Int, hooks: PushHooks,
                                  progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) throws -> StagedCounts {
        let turn = Turn()
        let shared = PushProgress()
        // A worker's error stops every worker: the first one is the push's.
        let fail: @Sendable (any Error) -> Void = { error in
            shared.fail(error)
            turn.fail()
        }
        let count = max(1, min(connections, items.count))
        // Each worker's connection is made here, so a server that refuses one fails the push before any thread starts.
        var workers: [any PushWorker] = [try target.worker(shared: true)]
        defer { for worker in workers.dropFirst() { worker.close() } }
        for _ in 1..<count { workers.append(try target.worker(shared: false)) }
        let run: @Sendable (Int, any PushWorker, any LogStore) -> Void = { index, worker, store in
            do {
                var i = index
                while i < items.count {
                    if shared.failed { return }
                    let staged = try store.read { r in try worker.stage(items[i], reader: r, plan: plan) }
                    try hooks.after?(i, .staged)
                    try turn.wait(for: i, failed: { shared.failed })
                    try worker.commit(staged)
                    try hooks.after?(i, .committed)
                    turn.done(i)
                    shared.add(staged.counts)
                    progress(i + 1, items.count)
                    i += count
                }
            } catch {
                fail(error)
            }
        }
        // A thread per worker (not a pool: each may wait for another's turn, so all must run at once).
        let group = DispatchGroup()
        for index in 1..<count {
            let worker = workers[index]
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let store = try open()
                    defer { try? store.close() }
                    run(index, worker, store)
                } catch {
                    fail(error)
                }
            }.start()
        }
        run(0, workers[0], local)
        group.wait()
        if let error = shared.error { throw error }
        return shared.totals
    }
}
