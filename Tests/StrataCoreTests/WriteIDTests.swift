import StrataCore
import StrataTestSupport
import Testing

@Suite("Write ids")
struct WriteIDTests {
  @Test("layout: milliseconds since 2020, then slot, then counter; numeric order is that order")
  func layout() {
    let id = WriteID(milliseconds: 123_456_789, slot: 7, counter: 4095)
    #expect(id.milliseconds == 123_456_789)
    #expect(id.slot == 7)
    #expect(id.counter == 4095)
    #expect(id.rawValue == 123_456_789 << 22 | 7 << 12 | 4095)
    #expect(WriteID(milliseconds: 5, slot: 0, counter: 4095) < WriteID(milliseconds: 5, slot: 1, counter: 0))
    #expect(WriteID(milliseconds: 5, slot: 1023, counter: 4095) < WriteID(milliseconds: 6, slot: 0, counter: 0))
  }

  @Test("a clock at a real time orders after every legacy sequence number and follows the wall clock")
  func wallClock() {
    var clock = WriteIDClock(slot: 3, floor: WriteID(rawValue: 50_000_000))  // a legacy store-wide counter
    let now = Timestamp(microseconds: 1_764_000_000_123_456)  // 2025-11-24
    let first = clock.next(now: now)
    #expect(first.rawValue > 50_000_000)
    #expect(Int64(first.milliseconds) + WriteID.epochMilliseconds == 1_764_000_000_123)
    #expect(first.slot == 3 && first.counter == 0)
    #expect(clock.next(now: now) == WriteID(milliseconds: first.milliseconds, slot: 3, counter: 1))
    let later = clock.next(now: now.adding(microseconds: 5_000))
    #expect(later == WriteID(milliseconds: first.milliseconds + 5, slot: 3, counter: 0))
  }

  @Test("ids strictly increase whatever the wall clock does, and stay above the floor and observed ids")
  func strictlyIncreasing() {
    var rng = SplitMix64.forTest("WriteIDTests.strictlyIncreasing")
    for _ in 0..<50 {
      let slot = UInt16(rng.below(4))
      let floorSlot = UInt16(rng.below(4))
      let base: Int64 = 1_764_000_000_000_000
      let floor = WriteID(
        milliseconds: UInt64(base / 1000 - WriteID.epochMilliseconds) + UInt64(rng.below(3)), slot: floorSlot,
        counter: UInt64(rng.below(2)) * WriteID.maxCounter)
      var clock = WriteIDClock(slot: slot, floor: floor)
      var last = floor
      var now = base
      for _ in 0..<10_000 {
        switch rng.below(10) {
        case 0: now -= Int64(rng.below(5_000))  // the wall clock steps back
        case 1, 2: now += Int64(rng.below(3_000))
        default: break  // many ids within one millisecond: the counter wraps into the next one
        }
        let id = clock.next(now: Timestamp(microseconds: now))
        #expect(id > last, "\(id) after \(last) (seed \(SplitMix64.hex(rng.seed)))")
        #expect(id.slot == slot)
        last = id
      }
    }
  }

  @Test("4097 ids in one millisecond: the counter wraps into the next millisecond, never repeating an id")
  func counterOverflow() {
    var clock = WriteIDClock(slot: 1)
    let now = Timestamp(microseconds: 1_764_000_000_000_000)
    let ids = (0...4096).map { _ in clock.next(now: now) }
    #expect(Set(ids).count == ids.count)
    #expect(ids[4095].counter == 4095 && ids[4096].counter == 0)
    #expect(ids[4096].milliseconds == ids[0].milliseconds + 1)
  }
}
