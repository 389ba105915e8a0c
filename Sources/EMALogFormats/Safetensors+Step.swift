extension Safetensors {
    /// The training step of a file: `__metadata__["step"]` (a decimal integer >= 0) or, without that
    /// key, the last run of digits in `fileName`.
    public static func step(metadata: [String: String], fileName: String) throws(SafetensorsError) -> Int {
        if let text = metadata["step"] {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw .invalidStepMetadata(value: text)
            }
            guard let step = Int(text), StepNumber.isValid(step) else { throw .stepTooLarge(digits: text, fileName: nil) }
            return step
        }
        var digits: Substring?
        var current = fileName.startIndex
        while current < fileName.endIndex {
            if fileName[current].isASCII, fileName[current].isNumber {
                let start = current
                while current < fileName.endIndex, fileName[current].isASCII, fileName[current].isNumber {
                    current = fileName.index(after: current)
                }
                digits = fileName[start..<current]
            } else {
                current = fileName.index(after: current)
            }
        }
        guard let digits else { throw .missingStep(fileName: fileName) }
        guard let step = Int(digits), StepNumber.isValid(step) else { throw .stepTooLarge(digits: String(digits), fileName: fileName) }
        return step
    }
}
