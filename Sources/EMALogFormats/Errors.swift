/// A rule of the safetensors format that a file breaks.
public enum SafetensorsError: Error, Equatable, Sendable {
    /// The file ended before `needed` more bytes at `offset`.
    case truncated(offset: Int, needed: Int)
    /// The 8-byte header length is larger than the cap.
    case headerTooLarge(length: UInt64, limit: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8
    /// The header is not valid JSON.
    case headerNotJSON(JSONError)
    /// The header's top level is not a JSON object.
    case headerNotObject
    /// Two entries share a tensor name.
    case duplicateTensor(name: String)
    /// An entry lacks a field or has one of the wrong type.
    case invalidEntry(tensor: String, reason: String)
    /// A dtype emalog does not know.
    case unknownDType(tensor: String, dtype: String)
    /// A negative dimension or a shape whose element count overflows.
    case invalidShape(tensor: String, reason: String)
    /// `end - begin` differs from `product(shape) * dtype size`.
    case byteCountMismatch(tensor: String, expected: Int, actual: Int)
    /// A tensor starts after the previous one ended, leaving a gap.
    case nonContiguousData(tensor: String, expectedStart: Int, actualStart: Int)
    /// A tensor starts before the previous one ended.
    case overlappingData(tensor: String, previous: String)
    /// Bytes after the last tensor.
    case trailingBytes(count: Int)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(reason: String)
    /// `__metadata__["step"]` is not a decimal integer >= 0.
    case invalidStepMetadata(value: String)
    /// Neither `__metadata__["step"]` nor digits in the file name give a step.
    case missingStep(fileName: String)
    /// The step's digits (from `__metadata__` when `fileName` is nil, else from the name) exceed `StepNumber.largest`.
    case stepTooLarge(digits: String, fileName: String?)
}

extension SafetensorsError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .truncated(offset, needed):
            "file is truncated: needed \(needed) more bytes at offset \(offset); was it still being written?"
        case let .headerTooLarge(length, limit):
            "header length \(length) exceeds the \(limit)-byte cap: this is not a safetensors file or it is corrupt"
        case .headerNotUTF8:
            "header is not valid UTF-8: the file is corrupt"
        case let .headerNotJSON(error):
            "header is not valid JSON (\(error)): the file is corrupt"
        case .headerNotObject:
            "header is not a JSON object: the file is corrupt"
        case let .duplicateTensor(name):
            "tensor '\(name)' appears twice in the header: the file is corrupt"
        case let .invalidEntry(tensor, reason):
            "tensor '\(tensor)': \(reason): the header is corrupt"
        case let .unknownDType(tensor, dtype):
            "tensor '\(tensor)' has dtype '\(dtype)', which emalog does not support "
                + "(supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .invalidShape(tensor, reason):
            "tensor '\(tensor)' has an invalid shape: \(reason)"
        case let .byteCountMismatch(tensor, expected, actual):
            "tensor '\(tensor)' spans \(actual) bytes but its shape and dtype need \(expected): the header is corrupt"
        case let .nonContiguousData(tensor, expected, actual):
            "tensor '\(tensor)' starts at byte \(actual) of the data, expected \(expected): "
                + "tensors must be contiguous; the header is corrupt"
        case let .overlappingData(tensor, previous):
            "tensor '\(tensor)' overlaps tensor '\(previous)': the header is corrupt"
        case let .trailingBytes(count):
            "\(count) bytes follow the last tensor: the file is corrupt or was appended to"
        case let .invalidMetadata(reason):
            "__metadata__ \(reason): it must be an object of string values"
        case let .invalidStepMetadata(value):
            "__metadata__ step is '\(value)', not a decimal integer >= 0: write metadata={\"step\": str(step)}"
        case let .missingStep(fileName):
            "no step: '\(fileName)' has no __metadata__ step and no digits in its name; "
                + "save with metadata={\"step\": str(step)} or name it step-N.safetensors"
        case let .stepTooLarge(digits, fileName?):
            "the step number \(digits.prefix(40)) in the name '\(fileName)' is too large: steps are integers from 0 to "
                + "\(StepNumber.largest) (2^53 - 1); save with metadata={\"step\": str(step)} or name it step-N.safetensors"
        case let .stepTooLarge(digits, nil):
            "the step number \(digits.prefix(40)) in __metadata__ is too large: steps are integers from 0 to "
                + "\(StepNumber.largest) (2^53 - 1)"
        }
    }
}

/// Why a metrics line was refused.
public enum MetricsError: Error, Equatable, Sendable {
    /// The line is not valid JSON.
    case notJSON(JSONError)
    /// The line is JSON but not an object.
    case notAnObject(kind: String)
    /// No `"step"` key.
    case missingStep
    /// `"step"` is not an integer >= 0.
    case invalidStep(String)
    /// The same flattened key appears twice in one line.
    case duplicateKey(String)
}

extension MetricsError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .notJSON(error): "not valid JSON (\(error)); each line must be one JSON object"
        case let .notAnObject(kind): "line is \(kind), not a JSON object like {\"step\": 1, \"loss\": 0.5}"
        case .missingStep: "no \"step\" key; every line needs an integer \"step\""
        case let .invalidStep(text): "\"step\" is \(text.prefix(40)), not an integer from 0 to \(StepNumber.largest)"
        case let .duplicateKey(key): "key '\(key)' appears twice in the line"
        }
    }
}

/// Why a JSON text could not be parsed.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset of the problem within the text.
    public let offset: Int
    public let reason: String
    public var description: String { "\(reason) at byte \(offset)" }

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }
}

/// Why a step's `emalog.shard` layout cannot be read: a sentence naming what is wrong in it.
public struct ShardLayoutError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
