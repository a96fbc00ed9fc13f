import CKernels
import Foundation
import Synchronization

/// Runs data-parallel work on the persistent compute threads (DESIGN 3.7). One caller at a time uses the threads;
/// a second concurrent caller (tests run in parallel) runs its work inline instead of waiting.
public final class ComputePool: Sendable {
    public static let shared = ComputePool(threads: {
        if let s = ProcessInfo.processInfo.environment["TESSERA_THREADS"], let n = Int(s), n > 0 { return n }
        return System.coreCount
    }())

    // The C pool is used by one caller at a time (`busy`), which is what makes sharing its pointer safe.
    nonisolated(unsafe) private let pool: OpaquePointer
    private let busy = Atomic<Bool>(false)
    public let threads: Int

    public init(threads: Int) {
        pool = tk_pool_create(Int32(threads))
        self.threads = Int(tk_pool_size(pool))
    }

    deinit { tk_pool_destroy(pool) }

    /// Calls body(thread, threadCount) on every worker and returns when all have finished.
    public func run(_ body: (Int, Int) -> Void) {
        guard threads > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            body(0, 1)
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            var box = body
            withUnsafeMutablePointer(to: &box) { ptr in
                tk_pool_run(pool, { ctx, thread, n in
                    let body = ctx!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
                    body(Int(thread), Int(n))
                }, ptr)
            }
        }
    }

    /// The part of 0..<count that `thread` of `threads` takes, in multiples of `granularity`.
    public static func share(of count: Int, thread: Int, threads: Int, granularity: Int = 1) -> Range<Int> {
        let units = (count + granularity - 1) / granularity
        let lo = units * thread / threads, hi = units * (thread + 1) / threads
        return min(count, lo * granularity)..<min(count, hi * granularity)
    }
}
