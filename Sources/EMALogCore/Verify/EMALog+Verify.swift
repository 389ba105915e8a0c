import EMAKernel
import EMALogFormats
import EMALogStore

extension EMALog {
    /// Compares the EMA checkpoint at `path` (written by timm, AveragedModel, diffusers,
    /// ema-pytorch, Lightning, or emalog) with this log's replay of `selector` at `step`, tensor by
    /// tensor. `step` nil: the checkpoint's `__metadata__["step"]`, else the log's latest step.
    public func verify(checkpoint path: String, track selector: TrackSelector, atStep step: Int?,
                       tolerance: VerifyTolerance = .exact, strict: Bool = false,
                       observer: any ProgressObserver = SilentObserver()) throws -> VerifyReport {
        let file = try CheckpointFile(path: path)
        let shadow = try self.shadow(atStep: step ?? file.metadataStep, track: selector, observer: observer)
        let report = Self.compare(file, with: shadow, tolerance: tolerance, strict: strict)
        try file.checkUnchanged()
        return report
    }

    /// `verify --find`: replays every candidate (each form, each schedule, each of `decays` or, when
    /// empty, the decay in the checkpoint's metadata) in one pass and returns them best first: a
    /// bit-exact one before any other, then by exact tensors, largest ulp distance, largest
    /// absolute difference.
    public func findSpec(checkpoint path: String, decays: [Double], atStep step: Int?,
                         tolerance: VerifyTolerance = .exact, strict: Bool = false,
                         observer: any ProgressObserver = SilentObserver()) throws -> [VerifyCandidate] {
        let file = try CheckpointFile(path: path)
        var decays = decays
        if decays.isEmpty {
            decays = ["decay", "ema_decay", "beta"].compactMap { file.header.metadata[$0].flatMap(Double.init) }
                .filter { $0 >= 0 && $0 < 1 }.prefix(1).map { $0 }
        }
        guard !decays.isEmpty else { throw VerifyError.noDecayToTry(path: path) }
        var specs: [EMASpec] = []
        for decay in decays {
            for schedule in [EMASpec.Schedule.constant, .warmup, .tf] {
                for form in EMASpec.Form.allCases {
                    specs.append(EMASpec(name: nil, decay: decay, schedule: schedule, form: form))
                }
            }
        }
        let shadows = try sweep(specs, atStep: step ?? file.metadataStep, observer: observer)
        let candidates = zip(specs, shadows).map { spec, shadow in
            VerifyCandidate(spec: spec, report: Self.compare(file, with: shadow, tolerance: tolerance, strict: strict))
        }
        try file.checkUnchanged()
        return candidates.sorted { Self.rank($0.report) < Self.rank($1.report) }
    }

    /// Smaller is closer: exact first, then more exact tensors, smaller ulp and absolute distances.
    private static func rank(_ r: VerifyReport) -> (Int, Int, Int, Double) {
        let verdict = r.verdict == .exact ? 0 : r.verdict == .withinTolerance ? 1 : 2
        let compared = r.tensors.filter { $0.dtype.isFloating && $0.maxULP != nil }
        return (verdict, -compared.filter { $0.status == .exact }.count, compared.map { $0.maxULP! }.max() ?? Int.max,
                compared.map { $0.maxAbs ?? .infinity }.max() ?? .infinity)
    }

    /// The per-tensor comparison of a checkpoint with a shadow.
    static func compare(_ file: CheckpointFile, with shadow: ShadowResult, tolerance: VerifyTolerance,
                        strict: Bool) -> VerifyReport {
        let byName = Dictionary(shadow.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let (layout, roles) = CheckpointLayout.recognise(file.header.tensors.map(\.name), logNames: Set(byName.keys))
        var matched = Set<String>()
        var verdicts: [TensorVerdict] = []
        for (info, role) in zip(file.header.tensors, roles) {
            var v = TensorVerdict(name: info.name, logName: nil, dtype: info.dtype, status: .notCompared)
            switch role {
            case .counter: v.reason = .libraryCounter
            case .onlineWeights: v.reason = .onlineWeights
            case .unknown: v.status = .onlyInCheckpoint
            case let .tensor(logName):
                matched.insert(logName)
                v.logName = logName
                compare(&v, file.bytes(of: info), info, with: byName[logName]!, in: shadow, tolerance: tolerance,
                        strict: strict)
            }
            verdicts.append(v)
        }
        for tensor in shadow.tensors where !matched.contains(tensor.name) {
            verdicts.append(TensorVerdict(name: nil, logName: tensor.name, dtype: tensor.dtype, status: .onlyInLog))
        }
        return VerifyReport(checkpointPath: file.path, step: shadow.step, spec: shadow.spec, trackName: shadow.trackName,
                            layout: layout, tolerance: tolerance, strict: strict, tensors: verdicts)
    }

    private static func compare(_ v: inout TensorVerdict, _ bytes: UnsafeRawBufferPointer, _ info: TensorInfo,
                                with tensor: TensorRecord, in shadow: ShadowResult, tolerance: VerifyTolerance,
                                strict: Bool) {
        let sameKind = info.dtype.isFloating ? tensor.dtype.isFloating : info.dtype == tensor.dtype
        guard sameKind, info.shape == tensor.shape else {
            v.status = .differs
            v.reason = .layoutMismatch(checkpoint: info.dtype.rawValue + info.shapeText,
                                       log: tensor.dtype.rawValue + TensorInfo.text(ofShape: tensor.shape))
            return
        }
        guard info.dtype.isFloating, let dtype = FloatingDType(rawValue: info.dtype.rawValue) else {
            if TensorComparison.sameBytes(bytes, shadow.integerBytes(of: tensor)) {
                v.status = .exact
            } else {
                v.status = strict ? .differs : .notCompared
                v.reason = .integerBuffer
            }
            return
        }
        let c = shadow.withValues(of: tensor) { TensorComparison.compare(bytes, dtype: dtype, shadow: $0) }
        v.maxAbs = c.maxAbs
        v.maxULP = c.maxULP
        v.firstIndex = c.firstIndex
        v.checkpointValue = c.checkpointValue
        v.logValue = c.logValue
        if c.firstIndex == nil {
            v.status = .exact
        } else {
            let within = switch tolerance {
            case .exact: false
            case let .absolute(atol): c.maxAbs <= atol
            case let .ulps(n): c.maxULP <= n
            }
            v.status = within ? .withinTolerance : .differs
        }
    }
}
