/// Why the engine did not take a request. The server maps each kind to its HTTP status.
public struct EngineError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Bad parameters or a prompt that does not fit the context (400).
        case invalid
        /// The waiting queue is full (429 with Retry-After).
        case queueFull
        /// The request needs more KV cache than the whole pool (400).
        case tooLarge
        /// The engine is stopping (503).
        case shuttingDown
        /// The model failed on an accepted request (500); nothing a client sends should cause it.
        case modelFailure
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
