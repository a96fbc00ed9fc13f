import Foundation
import TesseraFuzzTargets

// Under `make fuzz` (built with -sanitize=fuzzer and -DFUZZING) libFuzzer calls this for every input of the target
// named by TESSERA_FUZZ_TARGET. In an ordinary build the same binary replays files: `tessera-fuzz TARGET FILE...`.

#if FUZZING
nonisolated(unsafe) let target: (Data) -> FuzzOutcome = {
    let name = ProcessInfo.processInfo.environment["TESSERA_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTargets.all[name] else {
        FileHandle.standardError.write(Data("set TESSERA_FUZZ_TARGET to one of \(FuzzTargets.all.keys.sorted())\n".utf8))
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    _ = target(Data(bytes: bytes, count: count))
    return 0
}
#else
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTargets.all[name] else {
            print("usage: tessera-fuzz TARGET FILE...  (targets: \(FuzzTargets.all.keys.sorted().joined(separator: ", ")))")
            exit(2)
        }
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("\(path): cannot read"); exit(1) }
            print("\(path): \(target(data))")
        }
    }
}
#endif
