// swift-tools-version:6.2
import PackageDescription

/// Our own Swift targets: a warning fails the build, so none ships; every module a file uses is
/// imported by that file (MemberImportVisibility), and an import is internal unless the file says
/// `public import` (InternalImportsByDefault), so a module's public API names its dependencies.
/// (Not the test targets' warnings: Swift Testing's macro expansions warn in this toolchain,
/// '@const' and '@section', which no code of ours can fix.)
let imports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility"), .enableUpcomingFeature("InternalImportsByDefault")]
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)] + imports

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
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Already built for postgres-nio; its SHA-256 (BoringSSL, SHA-NI) names chunk bodies on a team store.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // postgres-nio's own dependencies, which EMALogPostgres uses directly (event loops, buffers, its logger).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // No unsafe flags: a package that depends on emalog by version could not build it. The C
        // files say `#pragma clang fp contract(off)` themselves (bit-exact arithmetic in every build);
        // debug builds compile them at -O0 like every target, release builds optimise them.
        .target(name: "EMAKernelC"),
        .target(name: "EMAKernel", dependencies: ["EMAKernelC"], swiftSettings: strict),
        .target(name: "EMALogFormats", swiftSettings: strict),
        .target(name: "EMALogStoreC"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        // What every backend shares: the protocols, the records, the chunk format and codecs; no database library.
        .target(name: "EMALogStore", dependencies: ["EMALogFormats", "CZstd", "EMALogStoreC"], swiftSettings: strict),
        // The backends, siblings over EMALogStore: a log file (SQLite) and the team store (PostgreSQL).
        .target(
            name: "EMALogSQLite",
            dependencies: [
                "EMALogStore", "EMALogFormats", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ], swiftSettings: strict),
        .target(
            name: "EMALogPostgres",
            dependencies: [
                "EMALogStore", "EMALogFormats", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        .target(name: "EMALogCoreC"),
        .target(name: "EMAChart", swiftSettings: strict),
        .target(
            name: "EMALogCore",
            dependencies: [
                "EMAKernel", "EMALogFormats", "EMALogStore", "EMALogSQLite", "EMALogCoreC", "EMAChart", "EMALogPostgres",
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "emalog",
            dependencies: [
                // Core's API names types of these (EMASpec, DType, StoreError, RunSummary), so the CLI imports them too;
                // never a backend: the CLI sees logs and team stores through Core.
                "EMALogCore", "EMAKernel", "EMALogFormats", "EMALogStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "emalog-bench",
            dependencies: ["EMALogCore", "EMAKernel", "EMALogFormats", "EMALogStore", "EMALogStoreC", "EMAChart", "EMALogPostgres", "EMALogTestSupport"],
            swiftSettings: strict),
        .target(name: "FormatsTestSupport", dependencies: ["EMALogFormats"], swiftSettings: strict),
        .target(name: "EMALogTestSupport", dependencies: ["EMAKernel", "EMALogFormats", "EMALogStore", "EMALogCore", "EMALogCoreC", "CZstd", "FormatsTestSupport"],
                swiftSettings: strict),
        .testTarget(name: "EMAKernelTests", dependencies: ["EMAKernel", "EMAKernelC"]),
        .testTarget(name: "EMAChartTests", dependencies: ["EMAChart", "FormatsTestSupport"]),
        .testTarget(name: "EMALogFormatsTests", dependencies: ["EMALogFormats", "FormatsTestSupport"]),
        .testTarget(
            name: "EMALogStoreTests",
            dependencies: [
                "EMALogStore", "EMALogSQLite", "EMALogFormats", "EMALogStoreC", "EMALogTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "EMALogCoreTests",
            dependencies: ["EMAKernel", "EMALogFormats", "EMALogStore", "EMALogSQLite", "EMALogCore", "EMALogTestSupport", "FormatsTestSupport"]),
        // One suite for every backend: a new backend is a new `Backend` case that passes it.
        .testTarget(
            name: "StoreConformanceTests",
            dependencies: [
                "EMAKernel", "EMALogFormats", "EMALogStore", "EMALogSQLite", "EMALogPostgres", "EMALogCore", "EMALogTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "emalogTests",
            dependencies: [
                "emalog", "EMAKernel", "EMALogFormats", "EMALogStore", "EMALogSQLite", "EMALogCore", "EMALogTestSupport", "FormatsTestSupport",
                "EMAChart", "EMALogPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
