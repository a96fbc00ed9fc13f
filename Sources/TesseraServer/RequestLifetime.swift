import Hummingbird
import NIOCore
import Synchronization

/// How long a generation request may go on: until its client hangs up or its deadline (`--request-timeout`) passes,
/// whichever comes first. Either one ends the request's event stream, which cancels its sequences in the engine
/// (running or still queued) before the next step, so nobody's abandoned work keeps the cores busy.
final class RequestLifetime: Sendable {
    enum End: Sendable, Equatable {
        case hungUp
        case timedOut(seconds: Double)
    }

    private struct State {
        var end: End?
        var actions: [@Sendable () -> Void] = []
        var closed = false
        var hangUpToken: Int?
        var timer: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let detector: HangUpDetector?

    /// Watches the request's connection (when it has one: in-process tests have none) and starts its clock.
    static func watch(_ context: ServerContext, timeout: Double?) async -> RequestLifetime {
        let detector = try? await context.channel?.pipeline.handler(type: HangUpDetector.self).get()
        return RequestLifetime(detector: detector, timeout: timeout)
    }

    init(detector: HangUpDetector?, timeout: Double?) {
        self.detector = detector
        let token = detector?.onHangUp { [weak self] in self?.end(.hungUp) }
        let timer = timeout.flatMap { timeout in
            timeout > 0 ? Task { [weak self] in
                guard (try? await Task.sleep(for: .seconds(timeout))) != nil else { return }
                self?.end(.timedOut(seconds: timeout))
            } : nil
        }
        state.withLock { s in
            s.hangUpToken = token
            s.timer = timer
        }
    }

    deinit { close() }

    /// Why the request ended early, if it did.
    var ended: End? { state.withLock { $0.end } }

    /// Runs `action` when the request ends early (at once if it already has).
    func onEnd(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.end != nil { return true }
            if !s.closed { s.actions.append(action) }
            return false
        }
        if now { action() }
    }

    /// The request is answered: nothing watches it any more.
    func close() {
        let (token, timer) = state.withLock { s in
            s.closed = true
            s.actions.removeAll()
            defer { s.hangUpToken = nil; s.timer = nil }
            return (s.hangUpToken, s.timer)
        }
        timer?.cancel()
        detector?.remove(token)
    }

    private func end(_ why: End) {
        let actions = state.withLock { s -> [@Sendable () -> Void] in
            guard s.end == nil, !s.closed else { return [] }
            s.end = why
            defer { s.actions.removeAll() }
            return s.actions
        }
        for a in actions { a() }
    }

    /// The error a request that ended early answers with: a hung-up client reads nothing (499 in the log, nginx's
    /// "client closed request"); a timed-out one is told which limit it hit.
    static func error(_ end: End) -> APIError {
        switch end {
        case .hungUp:
            return APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), "the client closed the connection", code: "client_closed_request")
        case .timedOut(let seconds):
            return APIError(.requestTimeout, "the request did not finish within the server's request timeout of \(Self.format(seconds)) s (--request-timeout)",
                            type: "timeout_error", code: "request_timeout")
        }
    }

    private static func format(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }
}
