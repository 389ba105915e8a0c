// libFuzzer target: the safetensors header decoder must reject or accept any bytes without crashing,
// and whatever it accepts must satisfy the format's invariants. Built by Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func safetensorsFuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // Differential: the header reader without a JSON tree takes only what the tree takes, and gives
    // the same; the metadata probe finds what the full read finds.
    if let n = try? Safetensors.headerLength(prefix: bytes, fileSize: size) {
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        if String(validating: header, as: UTF8.self) != nil, let fast = Safetensors.fastDecodeHeader(header) {
            precondition((try? Safetensors.decodeHeaderTree(header)) == fast, "the fast reader and the tree disagree")
            precondition(Safetensors.quickMetadata(header) == fast.metadata, "the metadata probe disagrees")
        }
        if let text = String(validating: header, as: UTF8.self), let layout = try? ShardLayout(parsing: text) {
            precondition(layout.rank < layout.ranks, "accepted a layout whose rank is not below its ranks")
        }
    }
    do {
        let n = try Safetensors.headerLength(prefix: bytes, fileSize: size)
        let header = try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)]), fileSize: size)
        var end = 0
        for tensor in header.tensors {
            precondition(tensor.byteRange.lowerBound == end, "accepted a non-contiguous layout")
            precondition(tensor.byteCount == tensor.elementCount * tensor.dtype.byteWidth, "accepted a wrong byte count")
            end = tensor.byteRange.upperBound
        }
        precondition(header.dataOffset + end == size, "accepted a file whose data does not end at EOF")
        _ = try? Safetensors.step(metadata: header.metadata, fileName: "fuzz-1.safetensors")
    } catch {
        _ = "\(error)"  // every error must describe itself
    }
    return 0
}
