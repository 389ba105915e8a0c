public import EMAKernel
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

    /// `verify --find`: replays every candidate (see `findCandidates`) and returns them best first:
    /// a bit-exact one before any other, then by exact tensors, largest ulp distance, largest
    /// absolute difference. Candidates run together in one pass over the raw steps while their
    /// shadows fit `memoryBudget` bytes, in as many passes as that takes otherwise.
    public func findSpec(checkpoint path: String, decays: [Double], atStep step: Int?,
                         tolerance: VerifyTolerance = .exact, strict: Bool = false, memoryBudget: Int = 4 << 30,
                         observer: any ProgressObserver = SilentObserver()) throws -> [VerifyCandidate] {
        let file = try CheckpointFile(path: path)
        var decays = decays
        if decays.isEmpty {
            decays = ["decay", "ema_decay", "beta"].compactMap { file.header.metadata[$0].flatMap(Double.init) }
                .filter { $0 >= 0 && $0 < 1 }.prefix(1).map { $0 }
        }
        guard !decays.isEmpty else { throw VerifyError.noDecayToTry(path: path) }
        // The step is resolved once: every pass replays to it, even while an ingest appends.
        let (logTensors, target) = shards.isEmpty
            ? try store.read { r in (try r.tensors(), try resolveStep(step ?? file.metadataStep, r)) }
            : (try shardMap().tensors.map(\.record), try commonStep(step ?? file.metadataStep))
        let (layout, _) = CheckpointLayout.recognise(file.header.tensors.map(\.name), logNames: Set(logTensors.map(\.name)))
        let specs = Self.findCandidates(decays: decays, layout: layout)
        let shadowBytes = logTensors.filter(\.dtype.isFloating).reduce(0) { $0 + $1.elementCount * 4 }
        let perPass = max(1, memoryBudget / max(shadowBytes, 1))
        var candidates: [VerifyCandidate] = []
        for start in stride(from: 0, to: specs.count, by: perPass) {
            let batch = Array(specs[start..<min(start + perPass, specs.count)])
            let shadows = try sweep(batch, atStep: target, observer: observer)
            candidates += zip(batch, shadows).map { spec, shadow in
                VerifyCandidate(spec: spec, report: Self.compare(file, with: shadow, tolerance: tolerance, strict: strict))
            }
        }
        try file.checkUnchanged()
        // Ties (two forms can agree on a run's every bit) keep the order of findCandidates.
        return candidates.enumerated().sorted { a, b in
            let ra = Self.rank(a.element.report), rb = Self.rank(b.element.report)
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)
    }

    /// What `--find` tries for each decay: every schedule (constant, warmup, tf) in every form, each
    /// starting at the log's first step (after=0) or one step later (after=1: the log holds the
    /// initial weights as its first step, the library starts at the next); ema-pytorch's Float32
    /// decay (lerp); and, for an ema-pytorch checkpoint, its defaults (update_after_step=100,
    /// update_every=10).
    public static func findCandidates(decays: [Double], layout: CheckpointLayout) -> [EMASpec] {
        var specs: [EMASpec] = []
        for decay in decays {
            for after in [0, 1] {
                for schedule in [EMASpec.Schedule.constant, .warmup, .tf] {
                    for form in EMASpec.Form.allCases {
                        specs.append(EMASpec(name: nil, decay: decay, schedule: schedule, form: form, after: after))
                    }
                }
                for schedule in [EMASpec.Schedule.constant, .warmup] {
                    specs.append(EMASpec(name: nil, decay: decay, schedule: schedule, form: .lerp, after: after, decayDType: .f32))
                }
            }
            if layout == .emaPytorch {
                specs.append(EMASpec(name: nil, decay: decay, schedule: .warmup, form: .lerp, after: 100, every: 10, decayDType: .f32))
            }
        }
        return specs
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
