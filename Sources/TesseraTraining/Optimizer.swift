import Foundation

/// Updates fp32 parameters from their gradients (DESIGN 3.12: master weights and state in fp32), with PyTorch's
/// arithmetic so one step matches the reference's.
public struct Optimizer: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case adamw, sgd }

    public var kind: Kind
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0
    /// Steps taken (AdamW's bias correction).
    public private(set) var step = 0
    /// AdamW's first and second moments, shaped like the parameters.
    public private(set) var m: [[Float]] = []
    public private(set) var v: [[Float]] = []

    public init(kind: Kind, weightDecay: Float = 0) {
        self.kind = kind
        self.weightDecay = weightDecay
    }

    /// Restores a checkpoint's state.
    public init(kind: Kind, weightDecay: Float, step: Int, m: [[Float]], v: [[Float]]) {
        self.init(kind: kind, weightDecay: weightDecay)
        self.step = step
        self.m = m
        self.v = v
    }

    public mutating func update(_ parameters: inout [[Float]], _ gradients: [[Float]], learningRate lr: Float) {
        step += 1
        switch kind {
        case .sgd:
            // torch.optim.SGD: weight decay joins the gradient.
            for i in parameters.indices {
                for j in parameters[i].indices {
                    parameters[i][j] -= lr * (gradients[i][j] + weightDecay * parameters[i][j])
                }
            }
        case .adamw:
            if m.isEmpty {
                m = parameters.map { [Float](repeating: 0, count: $0.count) }
                v = m
            }
            // torch.optim.AdamW: decoupled decay first, then the bias-corrected step.
            let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
            let stepSize = lr / c1, c2Root = c2.squareRoot()
            for i in parameters.indices {
                for j in parameters[i].indices {
                    let g = gradients[i][j]
                    m[i][j] = beta1 * m[i][j] + (1 - beta1) * g
                    v[i][j] = beta2 * v[i][j] + (1 - beta2) * g * g
                    parameters[i][j] *= 1 - lr * weightDecay
                    parameters[i][j] -= stepSize * m[i][j] / (v[i][j].squareRoot() / c2Root + epsilon)
                }
            }
        }
    }
}

/// The learning rate at each optimizer step, as transformers' `get_scheduler` computes it: linear warmup from 0
/// over ceil(ratio × steps) steps, then constant, linear decay to 0, or a half cosine to 0.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case constant, linear, cosine }

    public var kind: Kind
    public var peak: Float
    public var totalSteps: Int
    public var warmupSteps: Int

    public init(kind: Kind, peak: Float, totalSteps: Int, warmupRatio: Double) {
        self.kind = kind
        self.peak = peak
        self.totalSteps = max(1, totalSteps)
        warmupSteps = Int((warmupRatio * Double(self.totalSteps)).rounded(.up))
    }

    /// The rate of step `s` (0-based).
    public func rate(_ s: Int) -> Float {
        if s < warmupSteps { return peak * Float(s) / Float(max(1, warmupSteps)) }
        let rest = Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        switch kind {
        case .constant: return peak
        case .linear: return peak * Float(max(0, 1 - rest))
        case .cosine: return peak * Float(max(0, 0.5 * (1 + cos(Double.pi * rest))))
        }
    }
}
