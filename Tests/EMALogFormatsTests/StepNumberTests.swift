import EMALogFormats
import Testing

@Suite struct StepNumberTests {
    @Test func metadataWins() throws {
        #expect(try Safetensors.step(metadata: ["step": "42"], fileName: "step-00000007.safetensors") == 42)
        #expect(try Safetensors.step(metadata: ["step": "0"], fileName: "x.safetensors") == 0)
    }

    @Test func lastRunOfDigitsInTheName() throws {
        #expect(try Safetensors.step(metadata: [:], fileName: "run3-step-00000120.safetensors") == 120)
        #expect(try Safetensors.step(metadata: [:], fileName: "ckpt_5.safetensors") == 5)
    }

    @Test(arguments: ["-1", "1.0", " 5", "+5", "", "5x"])
    func metadataStepMustBeADecimalInteger(value: String) {
        #expect(throws: SafetensorsError.invalidStepMetadata(value: value)) {
            try Safetensors.step(metadata: ["step": value], fileName: "step-1.safetensors")
        }
    }

    @Test func aStepTooLargeForAnIntSaysSo() throws {
        let digits = "999999999999999999999999"  // 24 digits
        #expect(throws: SafetensorsError.stepTooLarge(digits: digits, fileName: "step-\(digits).safetensors")) {
            try Safetensors.step(metadata: [:], fileName: "step-\(digits).safetensors")
        }
        #expect(throws: SafetensorsError.stepTooLarge(digits: "99999999999999999999999", fileName: nil)) {
            try Safetensors.step(metadata: ["step": "99999999999999999999999"], fileName: "step-1.safetensors")
        }
        let message = "\(SafetensorsError.stepTooLarge(digits: digits, fileName: "step-\(digits).safetensors"))"
        #expect(message.hasPrefix("the step number \(digits) in the name 'step-\(digits).safetensors' is too large"))
        #expect(try Safetensors.step(metadata: [:], fileName: "step-\(StepNumber.largest).safetensors") == StepNumber.largest)
        #expect(throws: SafetensorsError.stepTooLarge(digits: String(StepNumber.largest + 1), fileName: nil)) {
            try Safetensors.step(metadata: ["step": String(StepNumber.largest + 1)], fileName: "step-1.safetensors")
        }
    }

    @Test func noStepAnywhere() {
        #expect(throws: SafetensorsError.missingStep(fileName: "model.safetensors")) {
            try Safetensors.step(metadata: [:], fileName: "model.safetensors")
        }
    }
}
