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

/// Holds back requests beyond `--max-concurrency` in arrival order.
actor ConcurrencyGate {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { free = limit }

    func acquire() async {
        if free > 0 { free -= 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { free += 1 } else { waiters.removeFirst().resume() }
    }
}
