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

    static let metricsExtensions: Set<String> = ["jsonl", "ndjson", "json"]

    /// Classifies every input; folders contribute their `*.safetensors` (never `*.tmp`).
    init(inputs: [String]) throws(IngestError) {
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw .inputNotFound(path: input)
            }
            if isDirectory.boolValue {
                folders.append(input)
                stepFiles += try Self.stepFiles(in: input).map { Candidate(path: $0, step: StepFile.probeStep(path: $0), inFolder: true) }
            } else if Self.metricsExtensions.contains((input as NSString).pathExtension.lowercased()) {
                metricsFiles.append(input)
            } else {
                stepFiles.append(Candidate(path: input, step: StepFile.probeStep(path: input)))
            }
        }
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
