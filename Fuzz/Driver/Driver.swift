import Foundation
import TesseraFuzzTargets

// `tessera-fuzz TARGET FILE...` replays files through a target. Built by `make fuzz` (-sanitize=fuzzer, -DFUZZING),
// `tessera-fuzz` with TESSERA_FUZZ_TARGET set hands its arguments to libFuzzer's driver instead. (SwiftPM links an
// executable's entry point under its own name, so libFuzzer's `main` is never used; its driver is called here.)

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The target TESSERA_FUZZ_TARGET names (read once, whichever entry point libFuzzer comes through).
let fuzzTarget: @Sendable (Data) -> FuzzOutcome = {
    guard let name = ProcessInfo.processInfo.environment["TESSERA_FUZZ_TARGET"], let t = FuzzTargets.all[name] else { Driver.usage() }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    _ = fuzzTarget(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}
#endif

@main
struct Driver {
    static func main() {
        #if FUZZING
        if ProcessInfo.processInfo.environment["TESSERA_FUZZ_TARGET"] != nil {
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv) { bytes, count in fuzzOne(bytes, count) })
        }
        #endif
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTargets.all[name] else { usage() }
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("\(path): cannot read"); exit(1) }
            print("\(path): \(target(data))")
        }
    }

    static func usage() -> Never {
        print("usage: tessera-fuzz TARGET FILE...  (targets: \(FuzzTargets.all.keys.sorted().joined(separator: ", ")))")
        exit(2)
    }
}
