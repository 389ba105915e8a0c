import EMALogCore
import Foundation

// Ingests two steps of one tensor written here, then reads the log back: the library works when
// emalog is a dependency.
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("uses-emalog-\(getpid())").path
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }
for step in 1...2 {
    let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"step\":\"\(step)\"}}"
    var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Data($0) } + Data(header.utf8)
    bytes += [Float(step), Float(2 * step)].withUnsafeBytes { Data($0) }
    try bytes.write(to: URL(fileURLWithPath: "\(folder)/step-\(step).safetensors"))
}
let report = try Ingest.run(IngestRequest(logPath: folder + "/run.emalog", inputs: [folder]))
let info = try EMALog(openingAt: folder + "/run.emalog").info()
print("emalog \(EMALogCore.version) as a dependency: \(report.stepsAdded) steps ingested, last step \(info.lastStep ?? -1)")
guard report.stepsAdded == 2, info.lastStep == 2 else { exit(1) }
