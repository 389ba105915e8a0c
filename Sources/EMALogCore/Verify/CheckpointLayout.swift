/// How a training-time EMA library names the tensors of the checkpoint it writes.
public enum CheckpointLayout: Sendable, Equatable {
    /// The model's own names: timm ModelEmaV3/V2 `state_dict_ema` (the whole state_dict, integer
    /// buffers copied), diffusers EMAModel `save_pretrained`/`copy_to` (parameters), Lightning's
    /// averaged `state_dict` exported as is, a shadow written by emalog.
    case stateDict
    /// torch.optim.swa_utils.AveragedModel's `state_dict()` (Lightning WeightAveraging keeps one):
    /// `module.` before every name, the counter `n_averaged`.
    case averagedModel
    /// ema-pytorch's `EMA.state_dict()`: `ema_model.` before the averaged weights, `online_model.`
    /// before the live model's, the counters `initted` and `step`.
    case emaPytorch
    /// The model's names behind a prefix (a LightningModule attribute such as `model.`, DDP's or
    /// timm's wrapper `module.`, torch.compile's `_orig_mod.`).
    case prefixed(String)

    /// A short name for reports: `state_dict`, `AveragedModel`, `ema-pytorch`, `prefix 'model.'`.
    public var name: String {
        switch self {
        case .stateDict: "state_dict"
        case .averagedModel: "AveragedModel"
        case .emaPytorch: "ema-pytorch"
        case let .prefixed(prefix): "prefix '\(prefix)'"
        }
    }
}

/// What a checkpoint tensor is, once its layout is known.
enum CheckpointRole: Equatable {
    /// The EMA of the log's tensor of this name.
    case tensor(String)
    /// A library counter (`n_averaged`, `initted`, `step`): not a tensor of the model.
    case counter
    /// ema-pytorch's copy of the online (raw) model of this log name.
    case onlineWeights(String)
    /// A name the log does not have.
    case unknown
}

extension CheckpointLayout {
    /// Recognises the layout of a checkpoint holding `names` against the log's tensor names, and
    /// says what each checkpoint tensor is (in `names`' order).
    static func recognise(_ names: [String], logNames: Set<String>) -> (CheckpointLayout, [CheckpointRole]) {
        let set = Set(names)
        func strip(_ prefix: String, _ name: String) -> String? {
            name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : nil
        }
        func role(_ logName: String?) -> CheckpointRole {
            guard let logName, logNames.contains(logName) else { return .unknown }
            return .tensor(logName)
        }
        if names.contains(where: { $0.hasPrefix("ema_model.") }),
           set.contains("initted") || set.contains("step") || names.contains(where: { $0.hasPrefix("online_model.") })
        {
            return (.emaPytorch, names.map { name in
                if name == "initted" || name == "step" { return .counter }
                if let online = strip("online_model.", name) { return logNames.contains(online) ? .onlineWeights(online) : .unknown }
                return role(strip("ema_model.", name))
            })
        }
        if set.contains("n_averaged"), names.contains(where: { $0.hasPrefix("module.") }) {
            return (.averagedModel, names.map { $0 == "n_averaged" ? .counter : role(strip("module.", $0)) })
        }
        let plain = names.filter(logNames.contains).count
        // The prefix that turns the most checkpoint names into log names, if it beats the plain names.
        var counts: [String: Int] = [:]
        for name in names where !logNames.contains(name) {
            for logName in logNames where name.count > logName.count && name.hasSuffix("." + logName) {
                counts[String(name.dropLast(logName.count)), default: 0] += 1
            }
        }
        if let (prefix, count) = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), count > plain {
            return (.prefixed(prefix), names.map { role(strip(prefix, $0)) })
        }
        return (.stateDict, names.map { role($0) })
    }
}
