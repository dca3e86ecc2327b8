/// An entity id as a dictionary key that is equal to another only when their UTF-8 bytes are equal,
/// as storage keys are. Swift `String` equality is canonical equivalence ("é" precomposed == "e" +
/// combining accent), which would merge two distinct entities.
struct ExactEntityID: Hashable, Sendable {
  let id: String

  init(_ id: String) { self.id = id }

  static func == (a: ExactEntityID, b: ExactEntityID) -> Bool { a.id.utf8.elementsEqual(b.id.utf8) }

  func hash(into hasher: inout Hasher) {
    var id = id
    id.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
  }
}
