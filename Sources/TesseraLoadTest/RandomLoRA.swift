import Foundation

/// A PEFT LoRA with random weights, shaped for a base model: what `--setup` uploads so a scenario's adapters exist.
/// Written as PEFT writes it (adapter_config.json + adapter_model.safetensors, F32), from nothing but the scenario.
public struct RandomLoRA: Sendable {
    public let mix: AdapterMix
    public let base: BaseShape

    public init(mix: AdapterMix, base: BaseShape) {
        self.mix = mix
        self.base = base
    }

    public func config() -> [UInt8] {
        let o: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": mix.rank, "lora_alpha": mix.lora_alpha,
            "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": false, "use_rslora": false, "use_dora": false,
            "target_modules": mix.target_modules, "base_model_name_or_path": base.base_model_name_or_path ?? "",
        ]
        return Array((try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data())
    }

    /// Adapter `index` has the same weights on every run and for every tenant (seeded by the index).
    public func safetensors(index: Int) -> [UInt8] {
        var rng = SeededRandom(seed: 0x5EED_0000 &+ UInt64(index))
        var header: [(String, [Int], Int)] = []  // name, shape, element count
        for layer in 0..<base.num_hidden_layers {
            for module in mix.target_modules {
                let (k, n) = base.features(module)
                let block = ["gate_proj", "up_proj", "down_proj"].contains(module) ? "mlp" : "self_attn"
                let stem = "base_model.model.model.layers.\(layer).\(block).\(module)"
                header.append(("\(stem).lora_A.weight", [mix.rank, k], mix.rank * k))
                header.append(("\(stem).lora_B.weight", [n, mix.rank], n * mix.rank))
            }
        }
        var entries: [String] = []
        var offset = 0
        for (name, shape, count) in header {
            entries.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + count * 4)]}")
            offset += count * 4
        }
        var json = Array(("{\"__metadata__\":{\"format\":\"pt\"}," + entries.joined(separator: ",") + "}").utf8)
        while json.count % 8 != 0 { json.append(32) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        out += json
        // A like PEFT's Kaiming-uniform start; B small but non-zero, so every adapter changes the output a little.
        for (name, shape, count) in header {
            let bound = name.hasSuffix("lora_A.weight") ? 1 / Float(shape[1]).squareRoot() : 0.01
            for _ in 0..<count {
                let v = Float(rng.unit() * 2 - 1) * bound
                withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 }
            }
        }
        return out
    }
}
