import EMALogFormats
import Foundation

/// The inputs of an ingest, sorted out: safetensors files (by step) and metrics files.
struct InputScan {
    /// A safetensors file and the step it claims (from metadata or name; nil when neither).
    struct Candidate {
        var path: String
        var step: Int?
        /// Found in a folder (rather than named on the command line).
        var inFolder = false
    }

    var stepFiles: [Candidate] = []
    var metricsFiles: [String] = []
    var folders: [String] = []
    /// Inputs that do not exist (yet): kept only when waiting for them (`--follow`).
    var missing: [String] = []

    static let metricsExtensions: Set<String> = ["jsonl", "ndjson", "json"]

    /// Classifies every input; folders contribute their `*.safetensors` (never `*.tmp`). A missing
    /// input throws `inputNotFound`, or is kept in `missing` when `waitingForMissing`.
    init(inputs: [String], waitingForMissing: Bool = false) throws(IngestError) {
        for input in inputs where try !add(input) {
            guard waitingForMissing else { throw .inputNotFound(path: input) }
            missing.append(input)
        }
    }

    /// What kind of input `path` is, once it exists.
    enum Kind { case folder, metricsFile, stepFile }

    /// Classifies `path`: a folder, a metrics file (by extension) or a step file; nil when it does
    /// not exist.
    static func kind(of path: String) -> Kind? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue { return .folder }
        return metricsExtensions.contains((path as NSString).pathExtension.lowercased()) ? .metricsFile : .stepFile
    }

    /// Adds one input; false when it does not exist.
    private mutating func add(_ input: String) throws(IngestError) -> Bool {
        switch Self.kind(of: input) {
        case nil:
            return false
        case .folder:
            folders.append(input)
            stepFiles += try Self.stepFiles(in: input).map { Candidate(path: $0, step: StepFile.probeStep(path: $0), inFolder: true) }
        case .metricsFile:
            metricsFiles.append(input)
        case .stepFile:
            stepFiles.append(Candidate(path: input, step: StepFile.probeStep(path: input)))
        }
        return true
    }

    /// `*.safetensors` files directly inside `folder`, by name.
    static func stepFiles(in folder: String) throws(IngestError) -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .unreadable(path: folder, reason: "cannot list the folder")
        }
        return names.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
            .map { (folder as NSString).appendingPathComponent($0) }
    }

    /// Step files in step order; files without a known step come first so their error shows at once.
    /// Two files claiming one step are refused.
    func orderedStepFiles() throws(IngestError) -> [Candidate] {
        let sorted = stepFiles.sorted { ($0.step ?? -1, $0.path) < ($1.step ?? -1, $1.path) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.step != nil && a.step == b.step && a.path != b.path {
            throw .duplicateStep(step: a.step!, first: a.path, second: b.path)
        }
        var seen = Set<String>()
        return sorted.filter { seen.insert(Self.absolute($0.path)).inserted }
    }

    static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.standardizedFileURL.path
    }
}
