import Foundation
import TesseraFormats
import TesseraKernels
import TesseraModel

/// Tessera's internal form of an adapter (DESIGN 3.4, 3.8): what the model applies, ready to use — scale folded into B,
/// DoRA's row factors precomputed — as safetensors, zstd-compressed. Decoding checks every shape against the model,
/// since a file on disk can be damaged.
public enum AdapterCodec {
    static let format = "tessera-adapter-1"

    public static func encode(_ adapter: LoadedAdapter) -> Data {
        let w = adapter.weights
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for (l, layer) in w.deltas.enumerated() {
            for p in Projection.allCases {
                guard let d = layer[p.rawValue] else { continue }
                let key = "\(l).\(p)"
                tensors.append((key + ".a", [d.rank, d.a.columns], floats(d.a)))
                tensors.append((key + ".b", [d.b.rows, d.rank], floats(d.b)))
                if let s = d.doraScale { tensors.append((key + ".dora", [s.count], s)) }
            }
        }
        if w.virtualTokenCount > 0 {
            tensors.append(("virtual_tokens", [w.virtualTokenCount, w.virtualTokens.count / w.virtualTokenCount], w.virtualTokens))
        }
        if w.prefixTokenCount > 0 { tensors.append(("prefix", [w.prefixTokenCount, w.prefix.count / w.prefixTokenCount], w.prefix)) }
        let file = Safetensors.encode(tensors, metadata: ["format": format, "kind": adapter.kind.rawValue])
        return Zstd.compress(file, level: 1)
    }

    private static func floats(_ m: WeightMatrix) -> [Float] {
        Array(UnsafeBufferPointer(start: m.base.assumingMemoryBound(to: Float.self), count: m.rows * m.columns))
    }

    public static func decode(_ data: Data, config c: ModelConfig, name: String, limit: Int = 1 << 30) throws(AdapterError) -> LoadedAdapter {
        let file: Safetensors
        do {
            file = try Safetensors(bytes: try Zstd.decompress(data, limit: limit, name: name), name: name)
        } catch let e as AdapterError {
            throw e
        } catch {
            throw AdapterError("\(error)")
        }
        guard file.metadata["format"] == format, let kind = file.metadata["kind"].flatMap(AdapterKind.init(rawValue:)) else {
            throw AdapterError("\(name): not a Tessera adapter file")
        }
        func values(_ key: String, _ shape: [Int]) throws(AdapterError) -> [Float] {
            guard let t = file.tensors[key], t.shape == shape else {
                throw AdapterError("\(name): tensor '\(key)' is missing or not \(shape)")
            }
            return try PEFTAdapter.floats(file, key)
        }
        var deltas = PEFTAdapter.noDeltas(c)
        for l in 0..<c.layers {
            for p in Projection.allCases {
                let key = "\(l).\(p)"
                guard let a = file.tensors[key + ".a"] else { continue }
                let (outputs, inputs) = p.shape(c)
                guard a.shape.count == 2, a.shape[0] > 0, a.shape[1] == inputs else { throw AdapterError("\(name): tensor '\(key).a' is \(a.shape)") }
                let rank = a.shape[0]
                let dora = file.tensors[key + ".dora"] == nil ? nil : try values(key + ".dora", [outputs])
                deltas[l][p.rawValue] = LowRankDelta(
                    rank: rank, inputs: inputs, outputs: outputs, a: try values(key + ".a", [rank, inputs]),
                    b: try values(key + ".b", [outputs, rank]), doraScale: dora)
            }
        }
        let virtual = file.tensors["virtual_tokens"].map { $0.shape.first ?? 0 } ?? 0
        let prefix = file.tensors["prefix"].map { $0.shape.first ?? 0 } ?? 0
        let weights = AdapterWeights(
            deltas: deltas,
            virtualTokens: virtual > 0 ? try values("virtual_tokens", [virtual, c.hidden]) : [], virtualTokenCount: virtual,
            prefix: prefix > 0 ? try values("prefix", [prefix, c.layers * 2 * c.kvHeads * c.headDim]) : [], prefixTokenCount: prefix)
        return LoadedAdapter(kind: kind, weights: weights, warnings: [])
    }
}
