/// An adapter was refused. The message names the file or field and the reason, in words a user can act on
/// (the server turns it into a 422).
public struct AdapterError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
