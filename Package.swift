// swift-tools-version: 6.1
import PackageDescription

// Module layout and dependency direction: ../shared/DESIGN.md section 2. Lower targets never import higher ones.
let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(name: "CKernels"),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .target(name: "TesseraKernels", dependencies: ["CKernels"]),
        .target(name: "TesseraFormats", dependencies: ["TesseraKernels"]),
        .target(name: "TesseraTokenizer", dependencies: ["TesseraFormats"]),
        .target(name: "TesseraModel", dependencies: ["TesseraKernels", "TesseraFormats"]),
        .target(name: "TesseraAdapters", dependencies: ["TesseraModel", "TesseraFormats", "TesseraKernels", "CZstd"]),
        .target(name: "TesseraEngine", dependencies: ["TesseraModel", "TesseraTokenizer"]),
        .target(
            name: "TesseraTraining",
            dependencies: ["TesseraModel", "TesseraKernels", "TesseraFormats", "TesseraTokenizer", "TesseraEngine", "COpenBLAS"]
        ),
        .target(
            name: "TesseraServer",
            dependencies: [
                "TesseraEngine", "TesseraAdapters", "TesseraModel", "TesseraTokenizer", "TesseraFormats",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Talks to servers over HTTP only (DESIGN 1): no other Tessera module.
        .target(
            name: "TesseraLoadTest",
            dependencies: [
                "CNghttp2",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "tessera",
            dependencies: [
                "TesseraServer", "TesseraLoadTest", "TesseraEngine", "TesseraAdapters", "TesseraModel", "TesseraTokenizer", "TesseraFormats",
                "TesseraTraining",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Fuzz targets for every parser of untrusted bytes (`make fuzz`), and their replay in the tests.
        .target(name: "TesseraFuzzTargets", dependencies: ["TesseraServer", "TesseraAdapters", "TesseraFormats", "TesseraTokenizer"],
                path: "Fuzz/Targets"),
        .executableTarget(name: "tessera-fuzz", dependencies: ["TesseraFuzzTargets"], path: "Fuzz/Driver"),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["TesseraFuzzTargets", "TesseraTestSupport"]),
        .target(name: "TesseraTestSupport", dependencies: ["TesseraFormats"], path: "Tests/TesseraTestSupport"),
        .testTarget(name: "TesseraKernelsTests", dependencies: ["TesseraKernels", "TesseraTestSupport"]),
        .testTarget(
            name: "TesseraFormatsTests", dependencies: ["TesseraFormats"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TesseraTokenizerTests", dependencies: ["TesseraTokenizer", "TesseraFormats", "TesseraTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TesseraModelTests",
            dependencies: ["TesseraModel", "TesseraTokenizer", "TesseraFormats", "TesseraKernels", "TesseraTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TesseraAdaptersTests",
            dependencies: ["TesseraAdapters", "TesseraModel", "TesseraTokenizer", "TesseraFormats", "TesseraKernels", "TesseraTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TesseraEngineTests",
            dependencies: ["TesseraEngine", "TesseraKernels", "TesseraModel", "TesseraTokenizer", "TesseraTestSupport"]
        ),
        .testTarget(
            name: "TesseraServerTests",
            dependencies: [
                "TesseraServer", "TesseraEngine", "TesseraAdapters", "TesseraModel", "TesseraTokenizer", "TesseraTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "TesseraLoadTestTests",
            dependencies: [
                "TesseraLoadTest",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        .testTarget(
            name: "TesseraTrainingTests",
            dependencies: [
                "TesseraTraining", "TesseraModel", "TesseraKernels", "TesseraTokenizer", "TesseraFormats", "TesseraAdapters",
                "TesseraTestSupport",
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["TesseraTestSupport", "tessera"]),
    ],
    swiftLanguageModes: [.v6]
)
