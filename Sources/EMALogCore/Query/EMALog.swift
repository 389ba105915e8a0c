public import EMAKernel
import EMALogFormats
public import EMALogStore

/// A log opened for queries: shadows, raw steps, sweeps, metrics, info and audit. Never writes.
public final class EMALog {
    let store: any LogStore
    /// A sharded run: one log per rank, in rank order, each holding dim-0 slices of the tensors
    /// (`store` is rank 0's). Empty for one log.
    let shards: [EMALog]
    /// The sharded run's name.
    let shardGroup: String?

    /// Opens the log at `path` read-only (with `run`: that run of the team store at `path`, or the
    /// ranks of a sharded run of that name). `auditing`: a log whose schema emalog did not write,
    /// or whose settings are damaged, is opened anyway so `audit` can report why (it reads no table).
    public convenience init(openingAt path: String, run: String? = nil, auditing: Bool = false) throws {
        let stores = try LogStores.openRun(path, run: run, auditing: auditing)
        if stores.count == 1 && stores[0].shardGroup == nil {
            self.init(store: stores[0].store)
        } else {
            self.init(shards: stores.map { EMALog(store: $0.store) }, group: stores[0].shardGroup ?? run ?? "")
        }
    }

    /// Queries `store`, a log opened by any backend.
    public init(store: any LogStore) {
        self.store = store
        shards = []
        shardGroup = nil
    }

    /// Queries a sharded run: `shards` in rank order.
    init(shards: [EMALog], group: String) {
        store = shards[0].store
        self.shards = shards
        shardGroup = group
    }

    /// The log's path.
    public var path: String { store.path }

    /// Which EMA a query wants.
    public enum TrackSelector: Sendable, Equatable {
        /// The log's only track.
        case only
        /// A track name or a spec (`--ema`).
        case nameOrSpec(String)
        /// A constant decay (`--decay`).
        case decay(Double)
    }

    /// A selector resolved against the log: the spec, and the stored track when it is tracked.
    public struct ResolvedTrack: Sendable {
        public var spec: EMASpec
        public var track: TrackRecord?
    }

    /// Resolves a selector: a track name, a spec equal to a tracked profile (that track), or post hoc.
    func resolve(_ selector: TrackSelector, _ r: any LogReader) throws -> ResolvedTrack {
        let tracks = try r.tracks().map { ($0, try $0.profile()) }
        let spec: EMASpec
        switch selector {
        case .only:
            guard !tracks.isEmpty else { throw QueryError.noTracks }
            guard tracks.count == 1 else { throw QueryError.ambiguousTrack(available: tracks.map(\.0.name)) }
            return ResolvedTrack(spec: tracks[0].1, track: tracks[0].0)
        case let .nameOrSpec(text):
            if let named = tracks.first(where: { $0.0.name == text }) { return ResolvedTrack(spec: named.1, track: named.0) }
            do { spec = try EMASpec(parsing: text) } catch {
                if !text.contains("="), Double(text) == nil {
                    throw QueryError.unknownTrack(text, reason: error.reason, available: tracks.map(\.0.name))
                }
                throw QueryError.invalidSpec(error)
            }
        case let .decay(d):
            do { spec = try EMASpec(parsing: EMASpec.format(d)) } catch { throw QueryError.invalidSpec(error) }
        }
        if let match = tracks.first(where: { $0.1.hasSameProfile(as: spec) }) {
            return ResolvedTrack(spec: match.1, track: match.0)
        }
        return ResolvedTrack(spec: spec, track: nil)
    }

    /// `step`, or the latest when nil; a step the log lacks throws, naming its neighbours.
    func resolveStep(_ step: Int?, _ r: any LogReader) throws -> Int {
        guard let last = try r.lastStep() else { throw QueryError.emptyLog(path: store.path) }
        guard let step else { return last }
        if try r.stepRecord(step) == nil {
            let (below, above) = try r.neighbours(of: step)
            throw QueryError.stepNotFound(step: step, below: below, above: above)
        }
        return step
    }
}
