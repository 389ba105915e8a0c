#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
import EMALogFormats
import EMALogStore

/// A file format for tensors handed back to the user.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// safetensors (the default), as `load_file` reads it.
    case safetensors
    /// numpy's `.npz` (stored zip of `.npy`; BF16 widened to F32), for inspection.
    case npz
    /// One JSON object of metadata and tensors with their values, for inspection.
    case json

    /// The format a path's extension names: safetensors without an extension (`-`, `/dev/null`,
    /// `out`); an extension that is none of the formats throws, so `x.pt` is never safetensors by surprise.
    public static func inferred(from path: String) throws(QueryError) -> OutputFormat {
        let name = Path.name(of: path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return .safetensors }
        let ext = name[name.index(after: dot)...]
        guard let format = OutputFormat(rawValue: ext.lowercased()) else {
            throw .unknownOutputExtension(path: path, extension: "." + ext)
        }
        return format
    }
}
