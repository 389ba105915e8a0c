import EMALogFormats

/// Decodes one chunk of a tensor step after step (a replay), reusing the values of the steps just
/// decoded, so each residual costs one decode; a jump or a first call walks back to the keyframe.
///
/// A replay over many chunks splits each step in two: the stored chunk is fetched on the reader's
/// thread (`LogReader.storedChunk`), the decode runs on a worker (`decode(_:previous:threads:)`),
/// which touches no store.
public final class ChunkTrajectory {
    public let tensor: TensorRecord
    public let chunkIndex: Int
    private let coder = ChunkCoder()
    /// The decoded chunk at the last steps, newest first (at most `ResidualChain.depth`).
    private var recent: [[UInt8]] = []
    /// Steps that dropped out of `recent`, recycled as outputs, oldest first. One is reused only
    /// when more than `outputsHeld` wait, so it is not one the caller still holds (the decoder
    /// then writes it in place, where a held one would be copied first).
    private var spares: [[UInt8]] = []
    /// How many of its latest outputs the caller keeps while it decodes the next (a replay that
    /// applies several steps at once); the trajectory then keeps that many buffers more.
    public var outputsHeld = 0
    private var lastStep: Int?

    public init(tensor: TensorRecord, chunkIndex: Int) {
        self.tensor = tensor
        self.chunkIndex = chunkIndex
    }

    /// The chunk's bytes at `step`; `previous` is the stored step just before it.
    public func bytes(at step: Int, previous: Int?, _ reader: any LogReader) throws -> [UInt8] {
        let chunk = try reader.storedChunk(of: tensor, index: chunkIndex, step: step)
        guard follows(chunk, previous: previous) else {
            return remember(try reader.decodeChain(tensor: tensor, chunkIndex: chunkIndex, step: step, coder: coder), chunk)
        }
        return try decode(chunk)
    }

    /// Decodes a fetched chunk, which must be a keyframe or follow the step decoded last
    /// (`previous`); on any thread, one at a time per trajectory.
    /// `threads`: how many threads one large chunk may use.
    public func decode(_ chunk: StoredChunk, previous: Int?, threads: Int = 1) throws -> [UInt8] {
        coder.threads = threads
        guard follows(chunk, previous: previous) else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' chunk \(chunkIndex) \(chunk.owner.label): "
                + "\(chunk.header.codec.rawValue) without the steps before it")
        }
        return try decode(chunk)
    }

    /// Whether `chunk` decodes from what is kept: a keyframe, or the step after the one decoded last.
    private func follows(_ chunk: StoredChunk, previous: Int?) -> Bool {
        let needs = chunk.header.codec.predecessors
        return needs == 0 || (lastStep != nil && lastStep == previous && recent.count >= needs)
    }

    /// Decodes `chunk` from the kept steps into the recycled buffer, and keeps it.
    private func decode(_ chunk: StoredChunk) throws -> [UInt8] {
        var decoded = spares.count > outputsHeld ? spares.removeFirst() : []
        try ChunkDecoder.decode(chunk, of: tensor, predecessors: recent[...], coder: coder, into: &decoded)
        return remember(decoded, chunk)
    }

    /// Keeps `decoded` as the newest step (only it after a keyframe); the step that drops out
    /// becomes the next output buffer.
    private func remember(_ decoded: [UInt8], _ chunk: StoredChunk) -> [UInt8] {
        recent.insert(decoded, at: 0)
        if chunk.header.codec.predecessors == 0 { recent.removeSubrange(1...) }
        if recent.count > ResidualChain.depth {
            spares.append(recent.removeLast())
            if spares.count > outputsHeld + 1 { spares.removeFirst() }
        }
        lastStep = chunk.step
        return decoded
    }
}
