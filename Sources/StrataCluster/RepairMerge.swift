/// Merges two replicas' rows of one (bucket, group version), each side sorted ascending by a unique
/// key, into what each side lacks: a value-type state machine fed one page at a time, so memory stays
/// bounded by the pages (never by the bucket).
///
/// ```
///   step() -> .needLocal  feed addLocal(page, last:)   (local buffer empty, more to come)
///          -> .needPeer   feed addPeer(page, last:)    (peer buffer empty, more to come)
///          -> .done       both sides ended; outputs hold the rest
/// ```
/// Between steps, `takeMissingLocally()` and `takeMissingOnPeer()` hand out what was found so far:
/// rows only the peer has (to write here) and rows only this node has (to send there). Rows with equal
/// keys on both sides count as `matched` and go nowhere (a key is a row's full identity: entity,
/// event time, created time, write id).
///
/// Example: local keys [1, 3], peer keys [2, 3] give missingLocally [2], missingOnPeer [1], matched 1.
public struct RepairMerge<Key: Comparable & Sendable, Row: Sendable>: Sendable {
  public enum Step: Sendable, Equatable {
    case needLocal
    case needPeer
    case done
  }

  private var local: [(key: Key, row: Row)] = []
  private var localIndex = 0
  private var localEnded = false
  private var peer: [(key: Key, row: Row)] = []
  private var peerIndex = 0
  private var peerEnded = false
  private var missingLocally: [Row] = []
  private var missingOnPeer: [Row] = []
  /// Rows both sides hold.
  public private(set) var matched = 0

  public init() {}

  /// The next page of this node's rows (ascending, after every earlier one); `last`: no more follow.
  /// Only after `step()` returned `.needLocal`.
  public mutating func addLocal(_ page: [(key: Key, row: Row)], last: Bool) {
    precondition(localIndex == local.count && !localEnded, "addLocal before the local page was used up")
    local = page
    localIndex = 0
    localEnded = last
  }

  /// The next page of the peer's rows; as `addLocal`.
  public mutating func addPeer(_ page: [(key: Key, row: Row)], last: Bool) {
    precondition(peerIndex == peer.count && !peerEnded, "addPeer before the peer page was used up")
    peer = page
    peerIndex = 0
    peerEnded = last
  }

  /// Merges as far as the pages fed so far allow.
  public mutating func step() -> Step {
    while true {
      let localEmpty = localIndex == local.count
      let peerEmpty = peerIndex == peer.count
      if localEmpty && !localEnded { return .needLocal }
      if peerEmpty && !peerEnded { return .needPeer }
      switch (localEmpty, peerEmpty) {
      case (true, true):
        return .done
      case (true, false):
        missingLocally.append(peer[peerIndex].row)
        peerIndex += 1
      case (false, true):
        missingOnPeer.append(local[localIndex].row)
        localIndex += 1
      case (false, false):
        let l = local[localIndex].key
        let p = peer[peerIndex].key
        if l < p {
          missingOnPeer.append(local[localIndex].row)
          localIndex += 1
        } else if p < l {
          missingLocally.append(peer[peerIndex].row)
          peerIndex += 1
        } else {
          matched += 1
          localIndex += 1
          peerIndex += 1
        }
      }
    }
  }

  /// Rows found so far that the peer has and this node lacks (each handed out once).
  public mutating func takeMissingLocally() -> [Row] {
    defer { missingLocally.removeAll(keepingCapacity: true) }
    return missingLocally
  }

  /// Rows found so far that this node has and the peer lacks (each handed out once).
  public mutating func takeMissingOnPeer() -> [Row] {
    defer { missingOnPeer.removeAll(keepingCapacity: true) }
    return missingOnPeer
  }
}
