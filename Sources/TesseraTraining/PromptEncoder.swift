import Foundation
import TesseraModel

/// The reparameterizations PEFT trains virtual tokens through: P-tuning's MLP (Linear, ReLU, Linear, ReLU, Linear:
/// `PromptEncoder` with `encoder_reparameterization_type` MLP) and prefix tuning's projection (Linear, Tanh, Linear:
/// `PrefixEncoder` with `prefix_projection`). The model sees the encoder's output rows; the embedding and the layers
/// train. PEFT saves only the output (`prompt_embeddings`), so that is what serving reads.
struct PromptEncoder {
    enum Activation { case relu, tanh, none }

    let adapter: AdapterParameters

    init(_ adapter: AdapterParameters) {
        precondition(adapter.encoderHidden > 0)
        self.adapter = adapter
    }

    /// The activation after each linear layer; layer i's weight is tensor 1 + 2i, its bias 2 + 2i.
    static func activations(_ kind: AdapterParameters.Kind) -> [Activation] {
        kind == .pTuning ? [.relu, .relu, .none] : [.tanh, .none]
    }

    /// PEFT's parameter names (without the adapter's name), in `tensors` order.
    static func names(_ kind: AdapterParameters.Kind) -> [String] {
        let module = kind == .pTuning ? "mlp_head" : "transform"
        return ["prompt_encoder.embedding.weight"] + activations(kind).indices.flatMap { i in
            ["prompt_encoder.\(module).\(2 * i).weight", "prompt_encoder.\(module).\(2 * i).bias"]
        }
    }

    /// The embedding [tokens, input], then each layer's weight [outputs, inputs] and bias [outputs]. P-tuning maps the
    /// hidden size to itself; prefix tuning maps a key's width to every layer's key and value.
    static func shapes(kind: AdapterParameters.Kind, config c: ModelConfig, hidden: Int, tokens: Int) -> [[Int]] {
        let input = kind == .pTuning ? c.hidden : c.kvHeads * c.headDim
        let widths = kind == .pTuning ? [input, hidden, hidden, input] : [input, hidden, AdapterParameters.rowWidth(.prefix, c)]
        var out = [[tokens, input]]
        for i in 1..<widths.count { out += [[widths[i], widths[i - 1]], [widths[i]]] }
        return out
    }

    /// Each layer's input, and the last layer's output (the rows), [tokens, width].
    struct Trace {
        var inputs: [[Float]] = []
        var output: [Float] = []
    }

    func forward() -> Trace {
        let n = adapter.virtualTokens, t = adapter.tensors
        var trace = Trace(), x = t[0]
        for (i, activation) in Self.activations(adapter.kind).enumerated() {
            let w = t[1 + 2 * i], b = t[2 + 2 * i], outputs = b.count, inputs = w.count / outputs
            var y = [Float](repeating: 0, count: n * outputs)
            for r in 0..<n { for o in 0..<outputs { y[r * outputs + o] = b[o] } }
            Dense.gemm(false, true, m: n, n: outputs, k: inputs, x, lda: inputs, w, ldb: inputs, beta: 1, &y, ldc: outputs)
            switch activation {
            case .relu: for j in y.indices { y[j] = max(y[j], 0) }
            case .tanh: for j in y.indices { y[j] = tanh(y[j]) }
            case .none: break
            }
            trace.inputs.append(x)
            x = y
        }
        trace.output = x
        return trace
    }

    /// Adds the gradients of the embedding and of every layer, given the output rows' gradient.
    func backward(_ trace: Trace, dOutput: [Float], into gradients: inout [[Float]]) {
        let n = adapter.virtualTokens, t = adapter.tensors, activations = Self.activations(adapter.kind)
        var g = dOutput
        for i in activations.indices.reversed() {
            let w = t[1 + 2 * i], outputs = t[2 + 2 * i].count, inputs = w.count / outputs
            // Through the activation after layer i, from its output (the next layer's input, or the rows).
            let y = i + 1 < activations.count ? trace.inputs[i + 1] : trace.output
            switch activations[i] {
            case .relu: for j in g.indices where y[j] <= 0 { g[j] = 0 }
            case .tanh: for j in g.indices { g[j] *= 1 - y[j] * y[j] }
            case .none: break
            }
            Dense.gemm(true, false, m: outputs, n: inputs, k: n, g, lda: outputs, trace.inputs[i], ldb: inputs, beta: 1,
                       &gradients[1 + 2 * i], ldc: inputs)
            for r in 0..<n { for o in 0..<outputs { gradients[2 + 2 * i][o] += g[r * outputs + o] } }
            var dx = [Float](repeating: 0, count: n * inputs)
            Dense.gemm(false, false, m: n, n: inputs, k: outputs, g, lda: outputs, w, ldb: inputs, beta: 0, &dx, ldc: inputs)
            g = dx
        }
        for j in g.indices { gradients[0][j] += g[j] }
    }
}
