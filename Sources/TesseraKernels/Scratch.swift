#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread scratch memory for kernels, grown on demand and kept, so forward passes do not allocate per call.
enum Scratch {
    private final class Buffer {
        var pointer: UnsafeMutablePointer<Float>
        var capacity: Int
        init(_ n: Int) {
            capacity = n
            pointer = .allocate(capacity: n)
        }
        deinit { pointer.deallocate() }
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { if let p = $0 { Unmanaged<AnyObject>.fromOpaque(p).release() } }
        return k
    }()

    static func withFloats<R>(_ n: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let buffer: Buffer
        if let raw = pthread_getspecific(key) {
            buffer = Unmanaged<Buffer>.fromOpaque(raw).takeUnretainedValue()
        } else {
            buffer = Buffer(max(n, 1 << 14))
            pthread_setspecific(key, Unmanaged.passRetained(buffer).toOpaque())
        }
        if buffer.capacity < n {
            buffer.pointer.deallocate()
            buffer.pointer = .allocate(capacity: n)
            buffer.capacity = n
        }
        return body(buffer.pointer)
    }
}
