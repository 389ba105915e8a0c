import Foundation

/// Paths of the committed fixtures (Tests/Fixtures) and scratch folders.
public enum Fixtures {
    /// `Tests/Fixtures/<relative>`.
    public static func path(_ relative: String) -> String {
        let here = URL(fileURLWithPath: #filePath)  // Sources/EMALogTestSupport/Fixtures.swift
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative).path
    }

    /// The package's top folder.
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The acceptance kit's run, when present beside the package (../shared/acceptance).
    public static var acceptanceRun: String? {
        let beside = URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared/acceptance/run").path
        return [beside, "/work/shared/acceptance/run"].first { FileManager.default.fileExists(atPath: $0) }
    }
}

/// A temporary folder removed when the value is released.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init() {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    /// `path/<name>`.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Copies the `*.safetensors` of `source` into a new subfolder `name`, optionally only some steps.
    public func copySteps(from source: String, to name: String, where keep: (String) -> Bool = { _ in true }) throws -> String {
        let folder = file(name)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for entry in try FileManager.default.contentsOfDirectory(atPath: source).sorted() where entry.hasSuffix(".safetensors") && keep(entry) {
            try FileManager.default.copyItem(atPath: (source as NSString).appendingPathComponent(entry),
                                             toPath: (folder as NSString).appendingPathComponent(entry))
        }
        return folder
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
