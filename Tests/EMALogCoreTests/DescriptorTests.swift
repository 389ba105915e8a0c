#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
@testable import EMALogCore
import EMALogTestSupport
import Foundation
import Testing

/// A process using the library for many ingests keeps no descriptor of a log after its store is
/// closed: the ingest lock's descriptor is closed as soon as no connection of the process has the
/// log open (closing it earlier would drop SQLite's own locks).
@Suite struct DescriptorTests {
    let dir = TemporaryDirectory()

    /// This process's descriptors open on files in the test's folder.
    func descriptorsInFolder() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.count { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"))?.hasPrefix(dir.path) == true
        }
    }

    func ingestMetrics(_ db: String, step: Int) throws {
        let path = dir.file("m-\(step % 7).jsonl")
        try "{\"step\": \(step), \"loss\": \(step)}\n".write(toFile: path, atomically: false, encoding: .utf8)
        _ = try Goldens.ingest(db, [path])
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd")))
    func a1000IngestsLeaveNoDescriptorBehind() throws {
        for step in 0..<1000 { try ingestMetrics(dir.file("log-\(step % 10).emalog"), step: step / 10) }
        #expect(descriptorsInFolder() == 0)
        #expect(try EMALog(openingAt: dir.file("log-3.emalog")).metrics(keys: ["loss"]).rows.count == 100)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd")))
    func theLocksDescriptorWaitsForAReaderOfTheSameLogInThisProcess() throws {
        let db = dir.file("r.emalog")
        try ingestMetrics(db, step: 1)
        var reader: EMALog? = try EMALog(openingAt: db)
        _ = try reader!.info()
        try ingestMetrics(db, step: 2)
        // The reader's connection is open, so the ingest's lock descriptor is still open too.
        #expect(descriptorsInFolder() > 0)
        #expect(try reader!.metrics(keys: ["loss"]).rows.count == 2)
        reader = nil
        #expect(descriptorsInFolder() == 0)
        // And the log takes another ingest (the lock was released at once).
        try ingestMetrics(db, step: 3)
    }
}
