/// Where `push` (a Core use case, `EMALogCore/Team/Push.swift`) copies a log: one connection to a
/// team store, holding a run's push lock from `lock` until `close`. The push plans what to send
/// (`PushPlan.work(against: state())`), then stages and commits items in step order over several
/// workers; the backend decides how rows and bodies are written (PostgreSQL: `ServerPushTarget`).
///
/// The contract every implementation keeps:
/// - One push per run at a time: `lock` waits a while for another push's lock, then throws
///   `StoreError.runBusy`; a run's name that holds another log is `StoreError.runConflict` (`open`).
/// - A worker's `stage` sends what an item's rows will name (bodies) without making the item
///   visible; `commit` makes it visible whole, durably, in one transaction. Commits come in step
///   order, so the run is a prefix of the log at every moment, and a push killed at any point
///   leaves a run every reader can use and the next push completes.
public protocol PushTarget: AnyObject {
    /// The store's address, for messages (no password).
    var address: String { get }
    /// Takes run `name`'s push lock (the push reads its plan after this, so a push that waited
    /// for another one plans against what that one pushed).
    func lock(run name: String) throws
    /// Creates the run's row, or checks that it holds this log (and, for a rank of a sharded run,
    /// `shard`'s place in it).
    func open(run name: String, plan: PushPlan, layout: ChunkLayout, shard: ShardPlace?) throws
    /// Adds the tensors, ingests, tracks and metric keys the run lacks; true when any was added.
    func writeHeader(_ plan: PushPlan) throws -> Bool
    /// The run's steps and snapshots as stored.
    func state() throws -> RunState
    /// Deletes the run's steps after `step` (the log was truncated there), with their chunk rows;
    /// returns how many.
    func deleteSteps(after step: Int) throws -> Int
    /// Deletes snapshots of the run that the log no longer holds as they are.
    func deleteSnapshots(_ ids: [Int64]) throws
    /// A worker on this target's own connection (`shared`), or on a new one to the same run.
    func worker(shared: Bool) throws -> any PushWorker
    /// Makes the run's pins the log's (after the steps: a pin names a stored step); returns how
    /// many were added, moved or removed.
    func writePins(_ plan: PushPlan) throws -> Int
    /// Writes each metric key's values the run lacks or holds otherwise; returns (blocks, values) written.
    func writeMetrics(_ r: any LogReader, plan: PushPlan) throws -> (blocks: Int, values: Int)
    /// `push --repair`: has the store check every body the run names, and writes the damaged ones
    /// again from the log; returns how many.
    func repairBodies(_ r: any LogReader, plan: PushPlan) throws -> Int
    /// Counts the run's totals from its rows again (what `runs` lists).
    func recountTotals() throws
    func close()
}

/// One worker of a push: stages and commits items on its connection (the target's own for the
/// first worker, a new one for each other), used by one thread.
public protocol PushWorker: AnyObject, Sendable {
    /// Reads `item` from the log in `reader`'s view and sends what its rows will name.
    func stage(_ item: PushItem, reader: any LogReader, plan: PushPlan) throws -> any StagedItem
    /// Writes a staged item's rows in one durable transaction.
    func commit(_ staged: any StagedItem) throws
    func close()
}

/// An item read and sent, with only its rows left to commit.
public protocol StagedItem {
    var counts: StagedCounts { get }
}

/// What staging an item did, for the push's report.
public struct StagedCounts: Sendable, Equatable {
    public var steps = 0
    public var snapshots = 0
    /// Bodies uploaded, and their stored bytes.
    public var bodies = 0
    public var bodyBytes = 0
    /// Stored bytes of bodies the store already held (another run, or an earlier push).
    public var sharedBytes = 0
    /// Bodies the store held damaged and that were written again.
    public var repairedBodies = 0

    public init() {}

    public mutating func add(_ other: StagedCounts) {
        steps += other.steps
        snapshots += other.snapshots
        bodies += other.bodies
        bodyBytes += other.bodyBytes
        sharedBytes += other.sharedBytes
        repairedBodies += other.repairedBodies
    }
}

/// A rank's place in a sharded run.
public struct ShardPlace: Sendable, Equatable {
    /// The sharded run's name (the ranks are runs `group/rankR`).
    public var group: String
    public var rank: Int
    public var count: Int

    public init(group: String, rank: Int, count: Int) {
        self.group = group
        self.rank = rank
        self.count = count
    }
}
