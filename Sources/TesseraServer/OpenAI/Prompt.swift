/// `prompt` of a completion request: a string, strings, token ids, or lists of token ids (OpenAI accepts all four).
enum Prompt: Decodable {
    case texts([String])
    case tokens([[Int32]])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .texts([s])
        } else if let a = try? c.decode([String].self) {
            self = .texts(a)
        } else if let t = try? c.decode([Int32].self) {
            self = .tokens([t])
        } else if let t = try? c.decode([[Int32]].self) {
            self = .tokens(t)
        } else {
            throw DecodingError.typeMismatch(
                Prompt.self, .init(codingPath: decoder.codingPath, debugDescription: "prompt must be a string, an array of strings, an array of token ids or an array of such arrays"))
        }
    }

    var count: Int {
        switch self {
        case .texts(let t): t.count
        case .tokens(let t): t.count
        }
    }
}

/// `stop`: one string or up to 4 (OpenAI; we take up to 16).
struct StopStrings: Decodable {
    let values: [String]

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { values = [s] } else { values = try c.decode([String].self) }
    }
}
