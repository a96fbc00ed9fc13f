import TesseraKernels
import TesseraTestSupport

/// A random matrix in one of the kernel formats: random payload bytes, with the fp16 scales set to sane values.
func randomWeights(type: Int32, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix(seed)
    func half(_ v: Float) -> [UInt8] { let h = Half.fp16(from: v); return [UInt8(h & 0xff), UInt8(h >> 8)] }
    var out: [UInt8] = []
    switch type {
    case 0: for _ in 0..<(rows * columns) { withUnsafeBytes(of: rng.float()) { out += $0 } }
    case 1: for _ in 0..<(rows * columns) { out += half(rng.float()) }
    case 30: for _ in 0..<(rows * columns) { let b = rng.float().bitPattern >> 16; out += [UInt8(b & 0xff), UInt8(b >> 8)] }
    default:
        let blockBytes: [Int32: Int] = [2: 18, 3: 20, 6: 22, 7: 24, 8: 34, 12: 144, 13: 176, 14: 210, 20: 18]
        let blockValues: [Int32: Int] = [2: 32, 3: 32, 6: 32, 7: 32, 8: 32, 12: 256, 13: 256, 14: 256, 20: 32]
        for _ in 0..<(rows * columns / blockValues[type]!) {
            var block = (0..<blockBytes[type]!).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let scales: [Int] = type == 14 ? [208] : [2, 6, 8, 20].contains(type) ? [0] : [0, 2]
            for s in scales { block.replaceSubrange(s..<s + 2, with: half(rng.float() * 0.05)) }
            out += block
        }
    }
    return out
}
