import EMALogFormats
import EMALogStore

/// A rank's log in a `torch.distributed` job: its steps say which slice of the whole model they
/// hold (`ShardLayout`, in `__metadata__["emalog.shard"]`), from the log's first step on. The log
/// keeps the layout of its first step; a later step may repeat it (a resumed Logger does) but
/// never change it, and a log started without one never takes one.
extension Ingest {
    /// Refuses a step whose layout does not parse, does not fit its tensors, or is not the log's.
    func checkShardLayout(_ file: StepFile) throws {
        let layout: ShardLayout?
        do { layout = try ShardLayout.find(in: file.header.metadata) } catch {
            throw IngestError.badShardLayout(path: file.path, step: file.step, detail: error.description)
        }
        guard let layout else { return }
        if let problem = layout.problem(with: file.header.tensors) {
            throw IngestError.badShardLayout(path: file.path, step: file.step, detail: problem)
        }
        guard lastStep != nil else { return }
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
    }

    /// The layout of the log's first step, read when the ingest opens it.
    static func storedShardLayout(_ first: StepRecord?) -> ShardLayout? {
        guard let first else { return nil }
        return try? ShardLayout.find(in: first.metadata)
    }
}
