/// The base model's shapes, with Hugging Face config names, so `--setup` can make adapters that fit it without a
/// tokenizer or model file on the client.
public struct BaseShape: Codable, Sendable, Equatable {
    public init(hidden_size: Int, intermediate_size: Int, num_hidden_layers: Int, num_attention_heads: Int,
                num_key_value_heads: Int, base_model_name_or_path: String? = nil) {
        self.hidden_size = hidden_size; self.intermediate_size = intermediate_size; self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads; self.num_key_value_heads = num_key_value_heads
        self.base_model_name_or_path = base_model_name_or_path
    }

    public var hidden_size: Int
    public var intermediate_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var num_key_value_heads: Int
    public var base_model_name_or_path: String?

    public static let modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    /// (in, out) features of a projection.
    func features(_ module: String) -> (Int, Int) {
        let kv = hidden_size / num_attention_heads * num_key_value_heads
        switch module {
        case "k_proj", "v_proj": return (hidden_size, kv)
        case "gate_proj", "up_proj": return (hidden_size, intermediate_size)
        case "down_proj": return (intermediate_size, hidden_size)
        default: return (hidden_size, hidden_size)
        }
    }
}
