// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every Strata target: Swift 6 language mode plus the upcoming features the
/// house style asks for (explicit import access levels, `any` for existentials, member import visibility).
let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "strata",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "strata", targets: ["strata"]),
    .library(name: "StrataCore", targets: ["StrataCore"]),
    .library(name: "StrataProto", targets: ["StrataProto"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
  ],
  targets: [
    // The model and its exact semantics. No dependencies at all.
    .target(name: "StrataCore", swiftSettings: strictSettings),

    // Storage protocol, key and row codecs, the local shard (online + history), the registry store,
    // and the in-memory engine. Depends on the core, and on swift-collections for the persistent hash
    // map that publishes the stream tiles not yet written and the queue of them (`StreamTileBuffer`).
    .target(
      name: "StrataStorage",
      dependencies: [
        "StrataCore", .product(name: "HashTreeCollections", package: "swift-collections"),
        .product(name: "DequeModule", package: "swift-collections"),
      ],
      swiftSettings: strictSettings),

    // Cluster logic without sockets: how a coordinator routes a request to the nodes that answer it,
    // and the replay of hinted writes (over the storage's hint store). Imports neither gRPC, NIO,
    // SwiftProtobuf nor RocksDB.
    .target(name: "StrataCluster", dependencies: ["StrataCore", "StrataStorage"], swiftSettings: strictSettings),

    // RocksDB's C API. Touched by StrataRocksDB only.
    .systemLibrary(
      name: "CRocksDB",
      pkgConfig: "rocksdb",
      providers: [.apt(["librocksdb-dev"])]
    ),
    .target(
      name: "StrataRocksDB",
      dependencies: ["StrataStorage", "StrataCore", "CRocksDB"],
      swiftSettings: strictSettings
    ),

    // Generated protobuf + gRPC code only (see dev/generate-protos.sh). Committed.
    .target(
      name: "StrataProto",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),

    // Generated protobuf + gRPC client code for etcd's v3 API only (see dev/generate-protos.sh and
    // dev/import-etcd-protos.sh). Committed. Imported by StrataEtcd only.
    .target(
      name: "EtcdProto",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),

    // A typed async etcd v3 client (KV, transactions, watches, leases) with endpoint failover: where
    // cluster metadata will live. Knows nothing of Strata's own services.
    .target(
      name: "StrataEtcd",
      dependencies: [
        "EtcdProto",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),

    // Cluster metadata in etcd: the layout (membership, ring settings) a node joins, and the feature
    // registry every node follows with a watch. No gRPC of Strata's own, no RocksDB.
    .target(
      name: "StrataMetadata",
      dependencies: [
        "StrataCore", "StrataStorage", "StrataEtcd", "StrataCluster",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),

    // Wire <-> model mapping, the gRPC service implementations, the client used by the CLI, and the
    // internode lookup lane (plain TCP over SwiftNIO).
    .target(
      name: "StrataGRPC",
      dependencies: [
        "StrataCore", "StrataStorage", "StrataCluster", "StrataProto",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),

    // Composition root: configuration, engine choice, transport and service-group wiring.
    .target(
      name: "StrataServer",
      dependencies: [
        "StrataCore", "StrataStorage", "StrataRocksDB", "StrataGRPC", "StrataCluster", "StrataMetadata", "StrataEtcd",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),

    // Command-line logic (definition files, CSV readers, progress output), kept in a library so it is testable.
    .target(
      name: "StrataCLI",
      dependencies: [
        "StrataCore", "StrataGRPC", "StrataServer", "StrataProto", "StrataEtcd", "StrataMetadata",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Yams", package: "Yams"),
      ],
      swiftSettings: strictSettings
    ),
    // The node allocates through jemalloc (Debian's libjemalloc2), as TiKV and RocksDB's own deployments do:
    // a push's writer spends about a fifth less CPU than with glibc's malloc (docs/benchmarks.md, Streaming).
    .executableTarget(
      name: "strata", dependencies: ["StrataCLI"], swiftSettings: strictSettings,
      linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]),

    // The seeded generator shared by the property tests of every test target, child-process reaping
    // (ChildExit) and a real etcd on loopback for tests (EtcdProcess).
    .target(name: "StrataTestSupport", path: "Tests/StrataTestSupport", swiftSettings: strictSettings),

    .testTarget(name: "StrataCoreTests", dependencies: ["StrataCore", "StrataTestSupport"], swiftSettings: strictSettings),
    .testTarget(
      name: "StrataClusterTests", dependencies: ["StrataCluster", "StrataCore", "StrataStorage", "StrataTestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "StrataStorageTests",
      dependencies: ["StrataCore", "StrataStorage", "StrataRocksDB", "StrataTestSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "StrataGRPCTests",
      dependencies: [
        "StrataCore", "StrataStorage", "StrataGRPC", "StrataProto", "StrataTestSupport", "StrataCluster",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "StrataCLITests",
      dependencies: ["StrataCore", "StrataCLI", "StrataTestSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "StrataIntegrationTests",
      dependencies: ["strata", "StrataCore", "StrataTestSupport"],
      swiftSettings: strictSettings
    ),
    // Membership changes (driver, layout follower, change commands) against an in-memory etcd on a
    // virtual clock, with simulated nodes and seeded faults.
    .testTarget(
      name: "StrataMetadataTests",
      dependencies: [
        "StrataMetadata", "StrataEtcd", "StrataCore", "StrataTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "StrataEtcdTests",
      dependencies: [
        "StrataEtcd", "StrataTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
  ],
  swiftLanguageModes: [.v6]
)
