import CKernels
import Foundation

/// The instruction-set level the kernels run at.
public enum CPULevel: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case generic = 0, avx2 = 1, avx512 = 2

    /// What this CPU and OS support (cpuid + xgetbv).
    public static let best = CPULevel(rawValue: Int32(tk_cpu_best_level())) ?? .generic

    /// `TESSERA_CPU=generic|avx2|avx512` forces a level (never above `best`); otherwise `best`.
    public static let selected: CPULevel = {
        guard let name = ProcessInfo.processInfo.environment["TESSERA_CPU"], !name.isEmpty else { return best }
        guard let wanted = allCases.first(where: { $0.description == name }) else {
            FileHandle.standardError.write(Data("TESSERA_CPU=\(name) is not one of generic, avx2, avx512; using \(best)\n".utf8))
            return best
        }
        guard wanted.rawValue <= best.rawValue else {
            FileHandle.standardError.write(Data("TESSERA_CPU=\(name) is not supported by this CPU; using \(best)\n".utf8))
            return best
        }
        return wanted
    }()

    /// Levels this machine can run, for tests that compare each with the generic twin.
    public static var supported: [CPULevel] { allCases.filter { $0.rawValue <= best.rawValue } }

    public var description: String {
        switch self {
        case .generic: "generic"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }

    var ops: UnsafePointer<tk_ops> { tk_ops_for(rawValue) }
}
