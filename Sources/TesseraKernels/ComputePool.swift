#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels
import Foundation

/// Runs data-parallel work on the persistent compute threads (DESIGN 3.7). One caller at a time uses the threads;
/// a second concurrent caller (tests run in parallel) runs its work inline instead of waiting.
public final class ComputePool: @unchecked Sendable {
    public static let shared = ComputePool(threads: {
        if let s = ProcessInfo.processInfo.environment["TESSERA_THREADS"], let n = Int(s), n > 0 { return n }
        return System.coreCount
    }())

    private let pool: OpaquePointer
    private var busy = pthread_mutex_t()
    public let threads: Int

    public init(threads: Int) {
        pool = tk_pool_create(Int32(threads))
        self.threads = Int(tk_pool_size(pool))
        pthread_mutex_init(&busy, nil)
    }

    deinit {
        tk_pool_destroy(pool)
        pthread_mutex_destroy(&busy)
    }

    /// Calls body(thread, threadCount) on every worker and returns when all have finished.
    public func run(_ body: (Int, Int) -> Void) {
        guard threads > 1, pthread_mutex_trylock(&busy) == 0 else {
            body(0, 1)
            return
        }
        defer { pthread_mutex_unlock(&busy) }
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
