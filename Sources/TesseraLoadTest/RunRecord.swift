import Foundation

/// Everything a run measured, before any statistics.
public struct RunRecord: Sendable {
    public var scenario: Scenario
    public var outcomes: [RequestOutcome]
    /// From the first send to the end of the last request (vLLM's benchmark duration).
    public var duration: Double
    public var startedAt: Date
    /// CPU seconds this process used during the run, and how late requests left against their planned arrival.
    public var clientCPUSeconds: Double
    public var sendLag: [Double]
    public var tenantNames: [String]
    public var tenantWeights: [Double]
    /// Requests the transport sent again on a new connection (the server had closed a kept-alive one).
    public var retriedRequests = 0

    public init(scenario: Scenario, outcomes: [RequestOutcome], duration: Double, startedAt: Date, clientCPUSeconds: Double,
                sendLag: [Double], tenantNames: [String], tenantWeights: [Double]) {
        self.scenario = scenario; self.outcomes = outcomes; self.duration = duration; self.startedAt = startedAt
        self.clientCPUSeconds = clientCPUSeconds; self.sendLag = sendLag; self.tenantNames = tenantNames; self.tenantWeights = tenantWeights
    }
}
