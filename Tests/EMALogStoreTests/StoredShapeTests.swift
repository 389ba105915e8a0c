@testable import EMALogStore
import Testing

/// A stored shape is read back from its text as emalog writes it; anything else is a damaged log.
@Suite struct StoredShapeTests {
    @Test(arguments: [
        ("[]", []), ("[ ]", []), ("[8]", [8]), ("[2, 3]", [2, 3]), ("[ 2 ,3 ]", [2, 3]), ("[0, 7]", [0, 7]),
        ("[9223372036854775807]", [Int.max]),
    ] as [(String, [Int])])
    func shapesRead(text: String, dims: [Int]) {
        #expect(StoredText.shape(text) == dims)
    }

    @Test(arguments: ["", "[", "]", "2,3", "[-4]", "[1e3]", "[2,]", "[,]", "[2 3]", "[+2]", "[9223372036854775808]",
                      "[99999999999999999999]", "[0x10]", "[٣]"])
    func damagedShapesAreRefused(text: String) {
        #expect(StoredText.shape(text) == nil)
    }
}
