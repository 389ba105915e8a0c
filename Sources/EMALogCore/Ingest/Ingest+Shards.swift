import EMALogFormats
import EMALogStore

/// A rank's log in a `torch.distributed` job: its steps say which slice of the whole model they
/// hold (`ShardLayout`, in `__metadata__["emalog.shard"]`), from the log's first step on. The log
/// keeps the layout of its first step; a later step may repeat it (a resumed Logger does) but
/// never change it, and a log started without one never takes one.
extension Ingest {
    /// Refuses a step whose layout does not parse, does not fit its tensors, or is not the log's;
    /// returns the step's layout (nil when it names none).
    @discardableResult
    func checkShardLayout(_ file: StepFile) throws -> ShardLayout? {
        let layout: ShardLayout?
        do { layout = try ShardLayout.find(in: file.header.metadata) } catch {
            throw IngestError.badShardLayout(path: file.path, step: file.step, detail: error.description)
        }
        guard let layout else { return nil }
        if let problem = layout.problem(with: file.header.tensors) {
            throw IngestError.badShardLayout(path: file.path, step: file.step, detail: problem)
        }
        guard lastStep != nil else { return layout }
        guard let stored = shardLayout else {
            throw IngestError.badShardLayout(path: file.path, step: file.step, detail: "the log's first step holds the whole "
                + "model (it names no slice): a rank's steps go in a log of their own, rank-RRRRR.emalog")
        }
        guard stored == layout else {
            let what = stored.rank != layout.rank || stored.ranks != layout.ranks
                ? "it is rank \(layout.rank) of \(layout.ranks), the log's first step is rank \(stored.rank) of \(stored.ranks)"
                : "its slices differ from those of the log's first step (the same rank of a model sharded otherwise)"
            throw IngestError.badShardLayout(path: file.path, step: file.step, detail: what
                + "; a rank's steps go in its own log, and a training resharded starts new logs")
        }
        return layout
    }

    /// The layout of the log's first step, read when the ingest opens it (checked when it was
    /// ingested: one that no longer parses is damage).
    static func storedShardLayout(_ first: StepRecord?) throws -> ShardLayout? {
        guard let first else { return nil }
        do { return try ShardLayout.find(in: first.metadata) } catch {
            throw StoreError.inconsistent("step \(first.step): its emalog.shard layout no longer reads: \(error)")
        }
    }
}
