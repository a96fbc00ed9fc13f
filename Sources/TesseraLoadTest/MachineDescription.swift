import Foundation

/// The client machine in a few lines (CPU model, cores, memory, kernel), stored with every result: numbers from a
/// different machine are a different experiment.
public enum MachineDescription {
    public static func current() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }.map(String.init) ?? ""
        let simd = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"].filter { flags.contains(" \($0)") }
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let kb = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal") }?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(model); \(ProcessInfo.processInfo.activeProcessorCount) cores (\(simd.joined(separator: ", "))); "
            + "\(fixed(kb / 1_048_576, 1)) GiB memory; Linux \(release)"
    }
}
