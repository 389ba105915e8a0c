// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "emalog",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "emalog", targets: ["emalog"]),
        .library(name: "EMALogCore", targets: ["EMALogCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .target(name: "EMAKernelC", cSettings: [.unsafeFlags(["-ffp-contract=off", "-fno-math-errno"])]),
        .target(name: "EMAKernel", dependencies: ["EMAKernelC"]),
        .target(name: "EMALogFormats"),
        .target(name: "EMALogStoreC", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        .target(
            name: "EMALogStore",
            dependencies: [
                "EMALogFormats", "CZstd", "EMALogStoreC",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]),
        .target(name: "EMALogCoreC"),
        .target(name: "EMALogCore", dependencies: ["EMAKernel", "EMALogFormats", "EMALogStore", "EMALogCoreC"]),
        .executableTarget(
            name: "emalog",
            dependencies: ["EMALogCore", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "emalog-bench", dependencies: ["EMALogCore", "EMAKernel", "EMALogFormats", "EMALogStoreC"]),
        .target(name: "EMALogTestSupport", dependencies: ["EMAKernel", "EMALogFormats", "EMALogCore", "CZstd"]),
        .testTarget(name: "EMAKernelTests", dependencies: ["EMAKernel", "EMAKernelC"]),
        .testTarget(name: "EMALogFormatsTests", dependencies: ["EMALogFormats", "EMALogTestSupport"]),
        .testTarget(
            name: "EMALogStoreTests",
            dependencies: ["EMALogStore", "EMALogTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "EMALogCoreTests", dependencies: ["EMAKernel", "EMALogStore", "EMALogCore", "EMALogTestSupport"]),
        .testTarget(name: "emalogTests", dependencies: ["emalog", "EMALogTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
