@testable import EMALogCore
import EMALogFormats
import EMALogTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How an output path resolves (issue 9.1), and the streaming encoders against the whole-buffer ones.
@Suite struct OutputTargetTests {
    let dir = TemporaryDirectory()

    func resolve(_ path: String, log: String) throws(QueryError) -> OutputDestination {
        try OutputDestination.resolve(path, binary: true, format: .safetensors, protecting: ProtectedFiles(logs: [log]))
    }

    @Test func aWALThatDoesNotExistYetIsRefusedByResolvedFolderAndName() throws {
        let log = dir.file("run.emalog")
        try Data("log".utf8).write(to: URL(fileURLWithPath: log))
        try FileManager.default.createDirectory(atPath: dir.file("sub"), withIntermediateDirectories: true)
        #expect(symlink(dir.path, dir.file("alias")) == 0)
        for spelling in [log + "-wal", dir.file("sub/../run.emalog-shm"), dir.file("alias/run.emalog-wal"),
                         dir.file("./run.emalog-journal")] {
            #expect(throws: QueryError.self) { try resolve(spelling, log: log) }
            do { _ = try resolve(spelling, log: log) } catch {
                guard case .outputIsLog(spelling, _) = error else { Issue.record("\(spelling): \(error)"); continue }
            }
        }
        #expect(try resolve(dir.file("run.emalog-walnut"), log: log) == .replace(folder: Path.real(dir.path)!, name: "run.emalog-walnut"))
    }

    @Test func aLogReachedThroughASymbolicLinkIsProtectedWhereSQLiteKeepsItsWAL() throws {
        let real = dir.file("real.emalog")
        try Data("log".utf8).write(to: URL(fileURLWithPath: real))
        #expect(symlink("real.emalog", dir.file("link.emalog")) == 0)
        for spelling in [real, real + "-wal", dir.file("link.emalog"), dir.file("link.emalog-wal")] {
            #expect(throws: QueryError.self, "\(spelling)") { try resolve(spelling, log: dir.file("link.emalog")) }
        }
    }

    @Test func kindsOfDestinations() throws {
        let log = dir.file("run.emalog")
        try Data("log".utf8).write(to: URL(fileURLWithPath: log))
        let real = Path.real(dir.path)!
        #expect(try resolve("/dev/null", log: log) == .inPlace(path: "/dev/null"))
        #expect(try resolve("/dev/stdout", log: log) == .descriptor(1))
        #expect(try resolve("/dev/fd/2", log: log) == .descriptor(2))
        // A descriptor no process can have open: at or past the hard limit on open files (one that
        // is merely closed now could be opened by a test running beside this one).
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let closed = Int(min(limit.rlim_max, rlim_t(Int32.max - 1)))
        #expect(throws: QueryError.self) { try resolve("/dev/fd/\(closed)", log: log) }
        #expect(try resolve(dir.file("new.safetensors"), log: log) == .replace(folder: real, name: "new.safetensors"))
        #expect(throws: QueryError.outputIsFolder(path: dir.path)) { try resolve(dir.path, log: log) }
        #expect(throws: QueryError.outputFailed(path: "''", reason: "the output path is empty")) { try resolve("", log: log) }
    }

    @Test(arguments: [("-", OutputFormat.safetensors), ("/dev/null", .safetensors), ("out", .safetensors), ("a.b/out", .safetensors),
                      (".hidden", .safetensors), ("x.NPZ", .npz), ("dir/x.json", .json), ("x.safetensors", .safetensors)])
    func formatFromTheExtension(path: String, format: OutputFormat) throws {
        #expect(try OutputFormat.inferred(from: path) == format)
    }

    @Test func anUnknownExtensionIsRefused() {
        #expect(throws: QueryError.unknownOutputExtension(path: "x.pt", extension: ".pt")) { try OutputFormat.inferred(from: "x.pt") }
        #expect("\(QueryError.unknownOutputExtension(path: "x.pt", extension: ".pt"))"
            == "unknown output extension '.pt': use .safetensors, .npz or .json")
    }

    /// Every format gives the same bytes whether a tensor arrives whole or in pieces split mid-element.
    @Test(arguments: OutputFormat.allCases)
    func streamingEncodersAreIndependentOfHowBytesArrive(format: OutputFormat) throws {
        let floats: [Float] = (0..<1000).map { Float($0) * 0.37 - 11 }
        let bf16 = floats.flatMap { f -> [UInt8] in let b = UInt16(f.bitPattern >> 16); return [UInt8(b & 0xFF), UInt8(b >> 8)] }
        let f32 = floats.withUnsafeBytes { Array($0) }
        let ints: [UInt8] = (0..<24).map { UInt8($0) }
        func tensors(piece: Int) -> [OutputTensor] {
            [("a", DType.f32, f32, [10, 100]), ("b", .bf16, bf16, [1000]), ("c", .i64, ints, [3])].map { name, dtype, bytes, shape in
                OutputTensor(layout: TensorLayout(name: name, dtype: dtype, shape: shape)) { emit in
                    try bytes.withUnsafeBytes { all in
                        var start = 0
                        while start < all.count {
                            let end = min(all.count, start + piece)
                            try emit(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                            start = end
                        }
                    }
                }
            }
        }
        var outputs: [Data] = []
        for piece in [1 << 20, 1, 3, 7, 1001] {
            let path = dir.file("out-\(piece).\(format.rawValue)")
            try TensorOutput.write(tensors(piece: piece), metadata: ["step": "1"], to: OutputTarget(path: path, format: nil, logPaths: [dir.file("log")]))
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        #expect(Set(outputs).count == 1)
        if format == .npz {
            let widened = floats.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) }.withUnsafeBytes { Array($0) }
            let whole = NPZ.archive([
                ("a", NPZ.npyHeader(descr: "<f4", shape: [10, 100]) + f32), ("b", NPZ.npyHeader(descr: "<f4", shape: [1000]) + widened),
                ("c", NPZ.npyHeader(descr: "<i8", shape: [3]) + ints),
            ])
            #expect(outputs[0] == Data(whole))
        }
        if format == .json {
            let text = String(decoding: outputs[0], as: UTF8.self)
            #expect(text.hasPrefix(#"{"metadata":{"step":"1"},"tensors":{"a":{"dtype":"F32","shape":[10,100],"values":[-11.0,-10.63,"#))
            #expect(text.hasSuffix(#""c":{"dtype":"I64","shape":[3],"values":[506097522914230528,1084818905618843912,1663540288323457296]}}}"# + "\n"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".tmp") } == [])
    }
}
