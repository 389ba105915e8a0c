// swift-tools-version:6.1
// A package that depends on emalog by version, as a user's would: scripts/check-dependent.sh
// points EMALOG_URL at a tagged clone and builds and runs it (unsafe build flags in emalog would
// make this fail: "contains unsafe build flags").
import Foundation
import PackageDescription

let emalog = ProcessInfo.processInfo.environment["EMALOG_URL"] ?? "https://github.com/emalog/emalog"

let package = Package(
    name: "UsesEMALog",
    dependencies: [.package(url: emalog, from: "0.1.0")],
    targets: [
        .executableTarget(name: "UsesEMALog", dependencies: [.product(name: "EMALogCore", package: "emalog")]),
    ]
)
