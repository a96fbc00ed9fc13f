import Foundation
import Testing
import TesseraKernels
import TesseraTestSupport

/// GeGLU's product (GELU, tanh approximation) and its backward at every level, against Double arithmetic.
@Suite struct GeluTests {
    static let c = (2 / Double.pi).squareRoot(), k = 0.044715

    /// 0.5 x (1 + tanh(y)) = x σ(2y): the sigmoid form keeps its precision for negative x, where 1 + tanh cancels
    /// even in Double.
    static func gelu(_ x: Double) -> Double { x / (1 + exp(-2 * c * (x + k * x * x * x))) }
    static func geluDerivative(_ x: Double) -> Double {
        let s = 1 / (1 + exp(-2 * c * (x + k * x * x * x)))
        return s + x * s * (1 - s) * 2 * c * (1 + 3 * k * x * x)
    }

    /// Random values over [-12, 12), and the edges: zero, tiny, where GELU's tail underflows, and huge (x³ overflows).
    static func inputs(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(seed)
        let edges: [Float] = [0, -0.0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.75, 3, -3, 5, -5, 9, -9, 20, -20, 100, -100, 1e4, -1e4, 1e15, -1e15]
        return Array((edges + rng.floats(n).map { $0 * 12 }).prefix(n))
    }

    /// Within `relative` of max(1, |expected|) at every element.
    func near(_ a: [Float], _ b: [Double], relative: Double) -> Bool {
        zip(a, b).allSatisfy { abs(Double($0) - $1) <= relative * max(1, abs($1)) }
    }

    @Test func referenceIsTheTanhFormulaAndItsDerivative() {
        for i in -300...300 {
            let x = Double(i) / 100
            let tanhForm = 0.5 * x * (1 + tanh(Self.c * (x + Self.k * x * x * x)))
            #expect(abs(Self.gelu(x) - tanhForm) <= 1e-14)
            let h = 1e-5, fd = (Self.gelu(x + h) - Self.gelu(x - h)) / (2 * h)
            #expect(abs(Self.geluDerivative(x) - fd) <= 1e-9)
        }
    }

    @Test(arguments: [1, 7, 8, 15, 16, 17, 22, 100, 577, 4099])
    func geluMultiplyAgreesWithDoubleAndGeneric(n: Int) {
        var rng = SplitMix(UInt64(n))
        let x = Self.inputs(n, seed: UInt64(n) + 1), up = rng.floats(n)
        let expected = (0..<n).map { Self.gelu(Double(x[$0])) * Double(up[$0]) }
        func forward(_ level: CPULevel) -> [Float] {
            var a = [Float](repeating: .nan, count: n)
            Kernels.geluMultiply(x, up, into: &a, count: n, level: level)
            return a
        }
        let generic = forward(.generic)
        #expect(near(generic, expected, relative: 1e-6), "generic n \(n)")
        for level in CPULevel.supported {
            let a = forward(level)
            #expect(near(a, expected, relative: 1e-6), "\(level) n \(n)")
            #expect(near(a, generic.map(Double.init), relative: 1e-6), "\(level) against generic n \(n)")
            // The pooled in-place form splits at multiples of 64, so every element takes the same path.
            var gate = x
            Kernels.geluMultiply(&gate, up, level: level)
            #expect(gate == a, "\(level) pooled n \(n)")
        }
    }

    @Test(arguments: [1, 7, 8, 15, 16, 17, 22, 100, 577, 4099])
    func geluMultiplyBackwardAgreesWithDoubleAndGeneric(n: Int) {
        var rng = SplitMix(UInt64(n) + 50)
        let x = Self.inputs(n, seed: UInt64(n) + 2), up = rng.floats(n), da = rng.floats(n)
        let dgExpected = (0..<n).map { Double(da[$0]) * Double(up[$0]) * Self.geluDerivative(Double(x[$0])) }
        let duExpected = (0..<n).map { Double(da[$0]) * Self.gelu(Double(x[$0])) }
        func backward(_ level: CPULevel) -> ([Float], [Float]) {
            var dg = [Float](repeating: .nan, count: n), du = dg
            Kernels.geluMultiplyBackward(x, up, da, dg: &dg, du: &du, count: n, level: level)
            return (dg, du)
        }
        let generic = backward(.generic)
        for level in CPULevel.supported {
            let (dg, du) = backward(level)
            #expect(near(dg, dgExpected, relative: 1e-6), "\(level) dg n \(n)")
            #expect(near(du, duExpected, relative: 1e-6), "\(level) du n \(n)")
            #expect(near(dg, generic.0.map(Double.init), relative: 1e-6), "\(level) dg against generic n \(n)")
            #expect(near(du, generic.1.map(Double.init), relative: 1e-6), "\(level) du against generic n \(n)")
        }
    }

    /// The backward is the forward kernel's derivative: central differences of the kernel itself (in Double around
    /// float inputs, step large enough for fp32) match dg.
    @Test func backwardMatchesFiniteDifferencesOfTheForwardKernel() {
        let x: [Float] = (-40...40).map { Float($0) / 8 }
        let n = x.count, h: Float = 1.0 / 256, ones = [Float](repeating: 1, count: n)
        for level in CPULevel.supported {
            var plus = [Float](repeating: 0, count: n), minus = plus, dg = plus, du = plus
            Kernels.geluMultiply(x.map { $0 + h }, ones, into: &plus, count: n, level: level)
            Kernels.geluMultiply(x.map { $0 - h }, ones, into: &minus, count: n, level: level)
            Kernels.geluMultiplyBackward(x, ones, ones, dg: &dg, du: &du, count: n, level: level)
            for i in 0..<n {
                let fd = (Double(plus[i]) - Double(minus[i])) / (2 * Double(h))
                // O(h²) truncation (h²/6 times |GELU'''| < 1e-5) plus a few ulps of the outputs over 2h.
                #expect(abs(fd - Double(dg[i])) <= 1e-5 + 3e-7 * max(1, Double(abs(x[i]))) / Double(h), "\(level) x \(x[i])")
            }
        }
    }
}
