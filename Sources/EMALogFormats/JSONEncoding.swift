/// `Encodable` values as emalog's JSON: a type declares its fields once (their wire names in
/// `CodingKeys`) and `JSONEncoding.text` writes them the one way `JSONWriter` does: members in
/// the order `encode(to:)` gives them (declaration order for a synthesized conformance), no
/// spaces, Doubles in the shortest exact form. Two rules differ from Foundation's `JSONEncoder`,
/// both so the document's shape never depends on the data:
/// - a nil optional is `null`, never a missing key (synthesized code calls `encodeIfPresent`,
///   which writes `null` here);
/// - a dictionary keyed by strings is an object with its keys sorted (never in hash order).
/// A member left out on purpose is the type's own `encode(to:)` choosing not to encode it; a key
/// encoded twice keeps its place and takes the later value.
public enum JSONEncoding {
    /// `value` as a JSON tree.
    public static func tree(_ value: some Encodable) throws -> JSONValue {
        let root = Slot()
        try encode(value, into: root, path: [])
        return root.value
    }

    /// `value` as JSON text.
    public static func text(_ value: some Encodable) throws -> String {
        var json = JSONWriter()
        json.value(try tree(value))
        return json.take()
    }

    static func encode(_ value: some Encodable, into slot: Slot, path: [any CodingKey]) throws {
        if let dictionary = value as? any StringKeyedDictionary {
            slot.becomeObject()
            for (key, member) in dictionary.sortedMembers {
                try encode(member, into: slot.appendMember(key), path: path)
            }
        } else if let tree = value as? JSONValue {
            slot.set(tree)
        } else {
            try value.encode(to: TreeEncoder(slot: slot, codingPath: path))
        }
    }
}

/// A dictionary keyed by strings: its members in key order.
protocol StringKeyedDictionary {
    var sortedMembers: [(String, any Encodable)] { get }
}

extension Dictionary: StringKeyedDictionary where Key == String, Value: Encodable {
    var sortedMembers: [(String, any Encodable)] { keys.sorted().map { ($0, self[$0]!) } }
}

extension JSONWriter {
    /// Writes `value`: numbers `JSONEncoding` made as they are; integers that fit an `Int` or a
    /// `UInt64` as integers, other numbers as Doubles in the
    /// shortest exact form (so a value parsed from a file is written the way emalog writes numbers).
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: self.value(nil as Int?)
        case let .bool(b): self.value(b)
        case let .number(n):
            if n.isEmalogText {
                put(n.text)
            } else if n.isIntegerLiteral, let i = Int(n.text) {
                self.value(i)
            } else if n.isIntegerLiteral, let u = UInt64(n.text) {
                self.value(u)
            } else {
                self.value(n.double)
            }
        case let .string(s): self.value(s)
        case let .array(items): array { json in for item in items { json.value(item) } }
        case let .object(members): object { json in for m in members { json.key(m.key); json.value(m.value) } }
        }
    }
}

extension JSONValue: Encodable {
    /// A parsed document written back as it is (through `JSONEncoding`, which takes the tree whole).
    public func encode(to encoder: any Encoder) throws {
        var single = encoder.singleValueContainer()
        switch self {
        case .null: try single.encodeNil()
        case let .bool(b): try single.encode(b)
        case let .number(n): try single.encode(n.double)
        case let .string(s): try single.encode(s)
        case let .array(items): try single.encode(items)
        case let .object(members):
            try single.encode(Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
        }
    }
}

/// Where one value of the tree goes: a leaf, or an object or array that containers fill in place.
final class Slot {
    private enum Kind { case leaf, object, array }
    private var kind = Kind.leaf
    private var leaf = JSONValue.null
    private var members: [(key: String, slot: Slot)] = []
    private var items: [Slot] = []

    func set(_ value: JSONValue) {
        kind = .leaf
        leaf = value
    }

    /// Makes the slot an object (kept as it is when it is one already: a type may encode into
    /// its container in parts).
    func becomeObject() {
        if kind != .object { (kind, members) = (.object, []) }
    }

    func becomeArray() {
        if kind != .array { (kind, items) = (.array, []) }
    }

    /// The slot of member `key`: a new one at the end, or a fresh one in the place of a key given before.
    func appendMember(_ key: String) -> Slot {
        becomeObject()
        let slot = Slot()
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].slot = slot
        } else {
            members.append((key, slot))
        }
        return slot
    }

    func appendItem() -> Slot {
        becomeArray()
        let slot = Slot()
        items.append(slot)
        return slot
    }

    /// The finished value, members and items in the order they were added.
    var value: JSONValue {
        switch kind {
        case .leaf: leaf
        case .object: .object(members.map { JSONMember(key: $0.key, value: $0.slot.value) })
        case .array: .array(items.map(\.value))
        }
    }
}

struct TreeEncoder: Encoder {
    let slot: Slot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        slot.becomeObject()
        return KeyedEncodingContainer(TreeObject<Key>(slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        slot.becomeArray()
        return TreeArray(slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { TreeSingle(slot: slot, codingPath: codingPath) }
}

/// The leaves: how each kind of value becomes a `JSONValue`.
enum Leaf {
    static func int(_ value: some BinaryInteger) -> JSONValue { .number(JSONNumber(emalogText: "\(value)", isIntegerLiteral: true)) }
    static func double(_ value: Double) -> JSONValue { .number(JSONNumber(emalogText: JSONWriter.number(value), isIntegerLiteral: false)) }
    static func float(_ value: Float) -> JSONValue { .number(JSONNumber(emalogText: JSONWriter.number(value), isIntegerLiteral: false)) }
}

struct TreeSingle: SingleValueEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.set(.null) }
    mutating func encode(_ value: Bool) throws { slot.set(.bool(value)) }
    mutating func encode(_ value: String) throws { slot.set(.string(value)) }
    mutating func encode(_ value: Double) throws { slot.set(Leaf.double(value)) }
    mutating func encode(_ value: Float) throws { slot.set(Leaf.float(value)) }
    mutating func encode(_ value: Int) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: Int8) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: Int16) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: Int32) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: Int64) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: UInt) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: UInt8) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: UInt16) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: UInt32) throws { slot.set(Leaf.int(value)) }
    mutating func encode(_ value: UInt64) throws { slot.set(Leaf.int(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try JSONEncoding.encode(value, into: slot, path: codingPath) }
}

struct TreeArray: UnkeyedEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]
    private(set) var count = 0

    init(slot: Slot, codingPath: [any CodingKey]) {
        self.slot = slot
        self.codingPath = codingPath
    }

    private mutating func next() -> TreeSingle {
        count += 1
        return TreeSingle(slot: slot.appendItem(), codingPath: codingPath)
    }

    mutating func encodeNil() throws { var s = next(); try s.encodeNil() }
    mutating func encode(_ value: Bool) throws { var s = next(); try s.encode(value) }
    mutating func encode(_ value: String) throws { var s = next(); try s.encode(value) }
    mutating func encode(_ value: Double) throws { var s = next(); try s.encode(value) }
    mutating func encode(_ value: Float) throws { var s = next(); try s.encode(value) }
    mutating func encode(_ value: Int) throws { var s = next(); try s.encode(value) }
    mutating func encode(_ value: Int64) throws { var s = next(); try s.encode(value) }
    mutating func encode(_ value: UInt64) throws { var s = next(); try s.encode(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { var s = next(); try s.encode(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(slot: next().slot, codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        TreeEncoder(slot: next().slot, codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { TreeEncoder(slot: next().slot, codingPath: codingPath) }
}

struct TreeObject<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let slot: Slot
    let codingPath: [any CodingKey]

    private func member(_ key: Key) -> TreeSingle { TreeSingle(slot: slot.appendMember(key.stringValue), codingPath: codingPath + [key]) }

    mutating func encodeNil(forKey key: Key) throws { var s = member(key); try s.encodeNil() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { var s = member(key); try s.encode(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { var s = member(key); try s.encode(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { var s = member(key); try s.encode(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { var s = member(key); try s.encode(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { var s = member(key); try s.encode(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { var s = member(key); try s.encode(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { var s = member(key); try s.encode(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { var s = member(key); try s.encode(value) }

    // A nil optional is null, not a missing key (see `JSONEncoding`).
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeOrNull(value, key) }

    private mutating func encodeOrNull<T: Encodable>(_ value: T?, _ key: Key) throws {
        var s = member(key)
        if let value { try s.encode(value) } else { try s.encodeNil() }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(slot: member(key).slot, codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        TreeEncoder(slot: member(key).slot, codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { TreeEncoder(slot: slot.appendMember("super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(slot: member(key).slot, codingPath: codingPath + [key]) }
}
