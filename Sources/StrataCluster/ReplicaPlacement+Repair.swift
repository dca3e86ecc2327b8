extension ReplicaPlacement {
  /// Whether the entities of a token are replicated on both `a` and `b`: the filter of a repair
  /// between the two (each compares, fetches and sends only the rows both should hold).
  public func sharedBy(_ a: String, _ b: String) -> @Sendable (UInt64) -> Bool {
    { token in
      let replicas = self.replicas(ofToken: token)
      return replicas.contains(a) && replicas.contains(b)
    }
  }
}
