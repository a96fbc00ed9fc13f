import NIOCore
import Synchronization

/// Tells a request that its client went away. One per connection, in the HTTP/1.1 pipeline.
///
/// Hummingbird allows remote half-closure, so a client that hangs up (curl's Ctrl-C, a client-side timeout, a killed
/// process) shows up as `inputClosed`, not as a closed channel: the channel only closes once a write fails, which a
/// request still in prefill, waiting in the queue or being answered as one JSON body never does. An HTTP/1.1 client
/// does not half-close while it waits for an answer, so the end of input means nobody is reading (uvicorn, and so
/// vLLM, treats it the same way).
final class HangUpDetector: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private struct State {
        var hungUp = false
        var waiters: [Int: @Sendable () -> Void] = [:]
        var next = 0
    }

    private let state = Mutex(State())

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { hangUp() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        hangUp()
        context.fireChannelInactive()
    }

    private func hangUp() {
        let waiters = state.withLock { s in
            s.hungUp = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w() }
    }

    /// Runs `action` once when the client hangs up (at once if it already has); the returned token removes it.
    func onHangUp(_ action: @escaping @Sendable () -> Void) -> Int? {
        let token = state.withLock { s -> Int? in
            guard !s.hungUp else { return nil }
            s.next += 1
            s.waiters[s.next] = action
            return s.next
        }
        if token == nil { action() }
        return token
    }

    func remove(_ token: Int?) {
        guard let token else { return }
        _ = state.withLock { $0.waiters.removeValue(forKey: token) }
    }
}
