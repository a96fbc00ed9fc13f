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
    ],
    targets: [
        .target(name: "CKernels"),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(name: "TesseraKernels", dependencies: ["CKernels"]),
        .target(name: "TesseraFormats", dependencies: ["TesseraKernels"]),
        .target(name: "TesseraTokenizer", dependencies: ["TesseraFormats"]),
        .target(name: "TesseraModel", dependencies: ["TesseraKernels", "TesseraFormats"]),
        .target(name: "TesseraAdapters", dependencies: ["TesseraModel", "TesseraFormats", "TesseraKernels", "CZstd"]),
        .target(name: "TesseraEngine", dependencies: ["TesseraModel", "TesseraTokenizer"]),
        .executableTarget(
            name: "tessera",
            dependencies: [
                "TesseraEngine", "TesseraAdapters", "TesseraModel", "TesseraTokenizer", "TesseraFormats",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
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
            dependencies: ["TesseraModel", "TesseraTokenizer", "TesseraFormats", "TesseraTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TesseraAdaptersTests",
            dependencies: ["TesseraAdapters", "TesseraModel", "TesseraFormats", "TesseraKernels", "TesseraTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TesseraEngineTests",
            dependencies: ["TesseraEngine", "TesseraModel", "TesseraTokenizer", "TesseraTestSupport"]
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["TesseraTestSupport", "tessera"]),
    ],
    swiftLanguageModes: [.v6]
)
