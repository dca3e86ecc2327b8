internal import ArgumentParser
internal import Foundation
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct GetCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "get",
    abstract: "Read the latest (online) feature values of one or more entities.")

  @Option(name: .customLong("entity"), help: "Entity id; repeat the option or separate ids with commas.")
  var entities: [String]
  @Option(help: "Feature references, comma-separated: group:feature, group@2:feature, group:*.")
  var features: String?
  @Option(help: "Serve by model instead of --features: NAME@VERSION (or NAME, its newest ACTIVE version) reads exactly the features that model version pinned.")
  var model: String?
  @Flag(help: "Print one JSON object per entity instead of a table.") var json = false
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let ids = entities.flatMap { $0.split(separator: ",").map { String($0) } }
    guard (features == nil) != (model == nil) else { throw ValidationError("give either --features or --model") }
    let refs = (features ?? "").split(separator: ",").map { String($0).trimmingWhitespace }
    guard !ids.isEmpty else { throw ValidationError("give at least one --entity") }
    let request = Strata_V1_GetOnlineFeaturesRequest.with {
      $0.entityIds = ids
      $0.features = refs
      $0.model = model ?? ""
    }
    let started = ContinuousClock.now
    let response = try await client.withFeatureStore { try await $0.getOnlineFeatures(request) }
    let millis = Elapsed.seconds(since: started) * 1000
    if json {
      for v in response.vectors {
        var fields: [String] = []
        for (c, r) in zip(response.columns, v.results) {
          let result = FeatureResult(proto: r)
          fields.append(
            "\(JSONText.quote(c.ref)):{\"value\":\(JSONText.value(result.value)),\"status\":\"\(result.status.name)\",\"event_timestamp\":\(result.eventTime.map { JSONText.quote($0.description) } ?? "null")}"
          )
        }
        print("{\"entity_id\":\(JSONText.quote(v.entityID)),\"features\":{\(fields.joined(separator: ","))}}")
      }
      return
    }
    var rows = [["ENTITY", "FEATURE", "VALUE", "STATUS", "EVENT TIME"]]
    for v in response.vectors {
      for (c, r) in zip(response.columns, v.results) {
        let result = FeatureResult(proto: r)
        rows.append([
          v.entityID, c.ref, result.value == nil ? "null" : ValueText.format(result.value), result.status.name,
          result.eventTime?.description ?? "-",
        ])
      }
    }
    print(Table.render(rows))
    FileHandle.standardError.write(
      Data("(\(response.vectors.count) entities x \(response.columns.count) features\(response.model.isEmpty ? "" : " of model \(response.model)") in \(String(format: "%.2f", millis)) ms, including connection setup)\n".utf8))
  }
}

/// Minimal JSON text output (no Foundation encoder on the hot path, exact control over numbers).
enum JSONText {
  static func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
      }
    }
    return out + "\""
  }

  static func value(_ v: FeatureValue?) -> String {
    switch v {
    case nil: "null"
    case .float(let d)?: String(d)
    case .int(let i)?: String(i)
    case .string(let s)?: quote(s)
    case .embedding(let e)?: "[" + e.map { String($0) }.joined(separator: ",") + "]"
    }
  }
}
