import Testing
import TesseraTestSupport
import TesseraTraining

/// Backward against the loss itself, as every method's gradient check does it.
enum FiniteDifferences {
    /// d(loss)/d(tensor i) along `direction`: central differences at two steps, extrapolated (Richardson), so the
    /// curvature's error cancels too.
    static func derivative(_ lora: AdapterParameters, tensor i: Int, along direction: [Float], step eps: Float = 5e-3,
                           _ loss: (AdapterParameters) -> Double) -> Double {
        func central(_ eps: Float) -> Double {
            var plus = lora, minus = lora
            for j in direction.indices {
                plus.tensors[i][j] += eps * direction[j]
                minus.tensors[i][j] -= eps * direction[j]
            }
            return (loss(plus) - loss(minus)) / Double(2 * eps)
        }
        return (4 * central(eps) - central(2 * eps)) / 3
    }

    /// `gradients` (of `lora`'s tensors) against `loss`'s finite differences, along a random direction per tensor
    /// whose PEFT name `included` picks: each must move the loss and agree within 1e-4 + 3e-3 of its size. Returns
    /// how many tensors were checked.
    @discardableResult
    static func check(_ lora: AdapterParameters, _ gradients: [[Float]], rng: inout SplitMix, step: Float = 5e-3,
                      included: (String) -> Bool, _ loss: (AdapterParameters) -> Double) -> Int {
        let names = lora.names
        var checked = 0
        for i in lora.tensors.indices where included(names[i].name) {
            let direction = rng.floats(lora.tensors[i].count)
            let analytic = zip(gradients[i], direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let numeric = derivative(lora, tensor: i, along: direction, step: step, loss)
            #expect(abs(numeric) > 1e-5, "\(names[i].name) moves the loss")
            #expect(abs(analytic - numeric) <= 1e-4 + 3e-3 * abs(numeric), "\(names[i].name): backward \(analytic), finite differences \(numeric)")
            checked += 1
        }
        return checked
    }
}
