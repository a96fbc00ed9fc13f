import Foundation
import Logging
import ServiceLifecycle

/// Loads the model after the server is listening, then on SIGTERM drains the engine: new requests get 503, accepted
/// ones run to their end for up to `drainTimeout`, and whatever is left then ends with an error event. It is listed
/// after the HTTP server in the service group, so it is shut down first and the server stops once requests are done.
public struct ModelService: Service {
    let backend: Backend
    let drainTimeout: Duration
    let logger: Logger
    let load: @Sendable () throws -> ServingState

    public init(backend: Backend, drainTimeout: Duration, logger: Logger, load: @escaping @Sendable () throws -> ServingState) {
        self.backend = backend
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.load = load
    }

    public func run() async throws {
        let load = self.load
        let state = try await Task.detached { try load() }.value  // model work stays off the cooperative pool
        backend.setLoaded(state)
        logger.info("model \(state.modelID) loaded; ready")
        let systemd = SystemdNotifier()
        systemd.notify("READY=1\nSTATUS=serving \(state.modelID)")
        // systemd restarts a server whose engine loop stopped going round (a step that never ends, a dead thread).
        let watchdog = systemd.watchdogInterval.map { interval in
            Task.detached { [logger] in
                while !Task.isCancelled {
                    if state.engine.secondsSinceLoopBeat < 2 * Double(interval.components.seconds) + 1 {
                        systemd.notify("WATCHDOG=1")
                    } else {
                        logger.error("the engine loop has not gone round for \(Int(state.engine.secondsSinceLoopBeat)) s; not feeding the watchdog")
                    }
                    try? await Task.sleep(for: interval)
                }
            }
        }
        try? await gracefulShutdown()
        systemd.notify("STOPPING=1")
        // Trainers stop after their step with a checkpoint (their jobs resume at the next start), while serving drains.
        async let training: Void = backend.jobs?.shutdown(timeout: drainTimeout) ?? ()
        let engine = state.engine
        engine.stopAccepting()
        logger.info("draining: \(engine.stats.running) running, \(engine.stats.waiting) waiting")
        let deadline = ContinuousClock.now + drainTimeout
        while !engine.isIdle, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if !engine.isIdle { logger.warning("drain timeout: ending \(engine.stats.running + engine.stats.waiting) requests with an error") }
        engine.close()
        await training
        watchdog?.cancel()
        backend.registry.usage.flush()  // tokens counted since the last batch still count against the limits
    }
}
