#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import EMALogCore
import Foundation

/// Runs an `ingest -` in this process, its records written to a pipe by a thread of their own.
public enum StreamFeed {
    /// Runs `request` (its inputs `-`) with `records` written to its stream, which is closed after
    /// them unless `keepOpen` (then closed when the ingest returns).
    public static func ingest(_ request: IngestRequest, records: [[UInt8]], keepOpen: Bool = false,
                              observer: any ProgressObserver = SilentObserver()) throws -> IngestReport {
        try ingest(request, keepOpen: keepOpen, observer: observer) { send in records.forEach(send) }
    }

    /// Runs `request` (its inputs `-`) with the records `feed` sends, on a thread of its own, as it
    /// makes them (e.g. waiting for a shared-memory slot to be released first).
    public static func ingest(_ request: IngestRequest, keepOpen: Bool = false, observer: any ProgressObserver = SilentObserver(),
                              feed: @escaping @Sendable (_ send: ([UInt8]) -> Void) -> Void) throws -> IngestReport {
        signal(SIGPIPE, SIG_IGN)  // an ingest that stops early makes the writer's next write fail, not kill the tests
        // Close-on-exec: a program another test spawns meanwhile must not hold the write end (the
        // ingest would never see the stream's end).
        guard let fds = Spawn.closeOnExecPipe() else { throw POSIXError(.EMFILE) }
        var request = request
        request.inputs = ["-"]
        request.streamDescriptor = fds[0]
        let writer = Thread { [fds] in
            feed { record in
                record.withUnsafeBytes { bytes in
                    var done = 0
                    while done < bytes.count {
                        let n = write(fds[1], bytes.baseAddress! + done, bytes.count - done)
                        if n <= 0 { break }
                        done += n
                    }
                }
            }
            if !keepOpen { close(fds[1]) }
        }
        writer.start()
        defer {
            close(fds[0])
            if keepOpen { close(fds[1]) }
        }
        return try Ingest.run(request, observer: observer)
    }

    /// An "S" record: the safetensors file `bytes`.
    public static func frame(_ bytes: [UInt8]) -> [UInt8] { [UInt8(ascii: "S")] + bytes }

    /// An "M" record: one metrics line.
    public static func metrics(_ line: String) -> [UInt8] { Array("M\(line)\n".utf8) }
}
