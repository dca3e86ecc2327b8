/// The routing of one replicated read (ONE): which replica answers which items, and where items go
/// next when a replica fails or is slow. A value type without I/O; the coordinator sends what it
/// returns and reports back what happened.
///
/// - `init` routes every item to one replica: this node when it holds one, else the first replica in
///   placement order that is not avoided (recently failed), else the first one.
/// - `failed(r)`: the items of request `r` that no other request answered yet go to their next
///   untried replica. An item all of whose replicas have been tried fails the read.
/// - `hedge(r)` (request `r` has not answered within the hedging delay): its unanswered items are
///   sent to their next untried replica as well, and `r` keeps running; the first answer wins.
/// - `answered(r)`: the items of `r` not answered yet take `r`'s answer; the read is done when every
///   item has one.
///
/// Requests are numbered from 0 in the order they are returned; `requests[r]` lists the node and the
/// items (ascending), and `answer[i]` is the request whose answer item `i` takes.
public struct ReplicaRead: Sendable {
  public struct Request: Sendable, Equatable {
    public var node: String
    /// Item indexes, ascending.
    public var items: [Int]

    public init(node: String, items: [Int]) {
      self.node = node
      self.items = items
    }
  }

  public enum Step: Sendable, Equatable {
    /// Send these requests (numbered from `first`, in order).
    case send(first: Int, [Request])
    /// Nothing to do but wait.
    case wait
    /// Every item has its answer.
    case done
    /// These items have been tried on every replica without an answer (the read fails).
    case exhausted(items: [Int])
  }

  let replicas: [[String]]
  let avoided: Set<String>
  /// Nodes tried per item.
  private var tried: [Set<String>]
  /// The request whose answer each item takes (-1: none yet).
  public private(set) var answer: [Int]
  public private(set) var requests: [Request] = []
  private var finished: [Bool] = []
  private var unanswered: Int

  /// Routes each item (`replicas[i]`, primary first) to one replica: `preferring` (this node) when it
  /// holds one and is not avoided, else the first not in `avoiding`, else the first.
  public init(replicas: [[String]], preferring: String?, avoiding: Set<String>) {
    self.replicas = replicas
    self.avoided = avoiding
    tried = [Set<String>](repeating: [], count: replicas.count)
    answer = [Int](repeating: -1, count: replicas.count)
    unanswered = replicas.count
    _ = route(Array(replicas.indices), preferring: preferring)
  }

  /// The requests the read starts with (numbered from 0).
  public var initial: [Request] { requests }

  /// Sends `items` to their next untried replica; the new requests are appended. Items with no
  /// untried replica left are returned.
  private mutating func route(_ items: [Int], preferring: String? = nil) -> (first: Int, exhausted: [Int]) {
    let first = requests.count
    var exhausted: [Int] = []
    var slot: [String: Int] = [:]
    for i in items {
      let options = replicas[i].filter { !tried[i].contains($0) }
      guard !options.isEmpty else {
        exhausted.append(i)
        continue
      }
      let node =
        preferring.flatMap { p in options.contains(p) && !avoided.contains(p) ? p : nil }
        ?? options.first { !avoided.contains($0) } ?? options[0]
      tried[i].insert(node)
      if let r = slot[node] {
        requests[r].items.append(i)
      } else {
        slot[node] = requests.count
        requests.append(Request(node: node, items: [i]))
        finished.append(false)
      }
    }
    return (first, exhausted)
  }

  private func open(_ r: Int) -> [Int] { requests[r].items.filter { answer[$0] < 0 } }

  /// Request `r` answered (all of its items).
  public mutating func answered(_ r: Int) -> Step {
    finished[r] = true
    for i in requests[r].items where answer[i] < 0 {
      answer[i] = r
      unanswered -= 1
    }
    return unanswered == 0 ? .done : .wait
  }

  /// Request `r` failed: its unanswered items go to their next replicas.
  public mutating func failed(_ r: Int) -> Step {
    finished[r] = true
    let items = open(r).filter { i in
      // Items another running request may still answer stay with it.
      !requests.indices.contains { $0 != r && !finished[$0] && requests[$0].items.contains(i) }
    }
    return next(items)
  }

  /// Request `r` is slow: its unanswered items also go to their next replicas (when they have one).
  public mutating func hedge(_ r: Int) -> Step {
    guard !finished[r] else { return unanswered == 0 ? .done : .wait }
    let items = open(r).filter { i in replicas[i].contains { !tried[i].contains($0) } }
    guard !items.isEmpty else { return .wait }
    return next(items)
  }

  private mutating func next(_ items: [Int]) -> Step {
    if items.isEmpty { return unanswered == 0 ? .done : .wait }
    let before = requests.count
    let (first, exhausted) = route(items)
    if !exhausted.isEmpty { return .exhausted(items: exhausted) }
    return .send(first: first, Array(requests[before...]))
  }
}
