import Foundation

/// Counts the progress line reads while requests run; written from many tasks.
final class LiveCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var _completed = 0, _failed = 0, _chunks = 0, _inFlight = 0

    func started() { lock.withLock { _inFlight += 1 } }
    func chunk() { lock.withLock { _chunks += 1 } }
    func finished(success: Bool) {
        lock.withLock {
            _inFlight -= 1
            if success { _completed += 1 } else { _failed += 1 }
        }
    }

    var snapshot: (completed: Int, failed: Int, chunks: Int, inFlight: Int) {
        lock.withLock { (_completed, _failed, _chunks, _inFlight) }
    }
}
