// swift-tools-version:6.2
import PackageDescription

/// Our own Swift targets: a warning fails the build, so none ships. (Not the test targets: Swift
/// Testing's macro expansions warn in this toolchain, '@const' and '@section', which no code of ours can fix.)
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

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
        .target(
            name: "EMALogStore",
            dependencies: [
                "EMALogFormats", "CZstd", "EMALogStoreC",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ], swiftSettings: strict),
        .target(
            name: "EMALogPostgres",
            dependencies: [
                "EMALogStore", "EMALogFormats", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: strict),
        .target(name: "EMALogCoreC"),
        .target(name: "EMAChart", swiftSettings: strict),
        .target(
            name: "EMALogCore",
            dependencies: [
                "EMAKernel", "EMALogFormats", "EMALogStore", "EMALogCoreC", "EMAChart", "EMALogPostgres",
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "emalog",
            dependencies: [
                "EMALogCore", "EMAKernel", "EMALogFormats", "EMALogStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "emalog-bench", dependencies: ["EMALogCore", "EMAKernel", "EMALogFormats", "EMALogStoreC", "EMAChart", "EMALogTestSupport"],
            swiftSettings: strict),
        .target(name: "FormatsTestSupport", dependencies: ["EMALogFormats"], swiftSettings: strict),
        .target(name: "EMALogTestSupport", dependencies: ["EMAKernel", "EMALogFormats", "EMALogCore", "CZstd", "FormatsTestSupport"],
                swiftSettings: strict),
        .testTarget(name: "EMAKernelTests", dependencies: ["EMAKernel", "EMAKernelC"]),
        .testTarget(name: "EMAChartTests", dependencies: ["EMAChart", "FormatsTestSupport"]),
        .testTarget(name: "EMALogFormatsTests", dependencies: ["EMALogFormats", "FormatsTestSupport"]),
        .testTarget(
            name: "EMALogStoreTests",
            dependencies: [
                "EMALogStore", "EMALogFormats", "EMALogStoreC", "EMALogTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "EMALogCoreTests",
            dependencies: ["EMAKernel", "EMALogFormats", "EMALogStore", "EMALogCore", "EMALogTestSupport", "FormatsTestSupport"]),
        .testTarget(
            name: "emalogTests",
            dependencies: [
                "emalog", "EMAKernel", "EMALogFormats", "EMALogStore", "EMALogCore", "EMALogTestSupport", "FormatsTestSupport",
                "EMAChart", "EMALogPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
