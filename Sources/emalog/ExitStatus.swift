import EMAKernel
import EMALogCore
import EMALogStore

/// The process exit status of each outcome (README "Exit codes": 0 ok, 1 audit mismatch, 64 usage, 65 bad input data or a
/// step the log does not have, 66 a missing log or input, 74 I/O or database, 75 log busy, 70 anything else).
enum ExitStatus: Int32, Sendable {
    case success = 0, auditMismatch = 1, usage = 64, badInput = 65, notFound = 66, software = 70, io = 74, busy = 75
}

extension ExitStatus {
    /// The status's name in machine-readable errors (`--error-format json`).
    var kind: String {
        switch self {
        case .success: "success"
        case .auditMismatch: "mismatch"
        case .usage: "usage"
        case .badInput: "bad_input"
        case .notFound: "not_found"
        case .io: "io"
        case .busy: "busy"
        case .software: "software"
        }
    }

    /// The status a command ends with when `error` stops it.
    init(for error: any Error) {
        switch error {
        case let error as IngestError: self = Self.of(error)
        case let error as QueryError: self = Self.of(error)
        case let error as StoreError: self = Self.of(error)
        case is UnknownMetricKey: self = .badInput
        case is VerifyError: self = .usage
        case is EMASpecError: self = .usage
        default: self = .software
        }
    }

    private static func of(_ error: IngestError) -> ExitStatus {
        switch error {
        case .inputNotFound: .notFound
        case .unreadable: .io
        case .trackConflict, .noInputs, .keepLastWithoutPolicy: .usage
        case .trackNeedsRawSteps, .rawNotKept: .badInput
        case .badFile, .badMetricsLine, .metricConflict, .duplicateStep, .olderStep, .changedContent, .tensorSetChanged, .badShardLayout,
             .nonFinite, .notRegularFile, .changedWhileReading, .nulInName, .badStream,
             .slotWrittenAgain:
            .badInput
        case let .bytesChanged(_, _, _, _, isFile): isFile ? .badInput : .software
        }
    }

    private static func of(_ error: QueryError) -> ExitStatus {
        switch error {
        case .notRankFolder: .notFound
        case .stepNotFound, .emptyLog, .unknownTensor, .noMetrics, .shardsDisagree, .unknownPin, .pinnedAfterTruncation,
             .rawNotKept, .cannotSynthesize: .badInput
        case .noTracks, .ambiguousTrack, .unknownTrack, .invalidSpec, .trackNameTaken, .invalidPinName: .usage
        case .outputIsLog, .unknownOutputExtension, .binaryToTerminal, .wrongDocumentExtension, .pullTargetExists, .shardedRun: .usage
        case .outputFailed, .outOfMemory: .io
        case .pullStopped: .busy
        case .outputIsFolder, .outputNotAFolder, .outputIO, .outputTooLarge: .io
        }
    }

    private static func of(_ error: StoreError) -> ExitStatus {
        switch error {
        case .logNotFound, .runNotFound: .notFound
        case .busy: .busy
        case .runBusy: .busy
        case .runConflict: .badInput
        case _ where error.isLockContention: .busy
        case .notALog, .olderSchema, .newerSchema, .checksumMismatch, .database, .inconsistent, .foreignSchema, .server: .io
        case .badServerAddress, .folderGiven: .usage
        }
    }
}
