import TesseraKernels

/// The forward product with a frozen base matrix W [outputs, inputs] through the serving integer kernels (int16
/// activations, DESIGN 3.3), for `TrainingPrecision.int16`. Each call lays W out for the kernels into memory it owns
/// for the call only, so the trainer keeps no second copy of the base beside the mapped file (a pass over W, small
/// against the product with thousands of tokens).
/// Backward stays on fp32 tiles (`Dense.backward`): an int8 transpose of W (the kernels need blocks along the
/// outputs there) measured 2-9e-2 relative error in the update against 2e-3 for this forward, and no faster.
enum IntegerDense {
    /// W ready for the forward product: the kernels' panel layout (or W itself where it has none), and its owner.
    struct Prepared {
        let matrix: WeightMatrix
        let owner: OwnedWeights?

        init(_ w: WeightMatrix) {
            if let (m, o) = w.repacked(for: .selected, activations: .int16) {
                matrix = m
                owner = o
            } else {
                matrix = w
                owner = nil
            }
        }
    }

    /// y [tokens, outputs] = x [tokens, inputs] · Wᵀ (overwrites y).
    static func forward(_ w: Prepared, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>, pool: ComputePool) {
        guard tokens > 0 else { return }
        withExtendedLifetime(w.owner) {
            Kernels.matmul(w.matrix, x, tokens: tokens, y, activations: .int16, pool: pool)
        }
    }
}
