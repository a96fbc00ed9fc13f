import CKernels

extension Kernels {
    /// One sequence's use of one adapter on one projection: rows `rows` of the batch (see `tk_lora_item`).
    public struct LoRAItem: @unchecked Sendable {
        public var a: UnsafeRawPointer
        public var bt: UnsafeRawPointer
        public var dora: UnsafePointer<Float>?
        public var rows: Range<Int>
        public var rank: Int
        /// 0: fp32 weights, 1: fp16.
        public var type: Int32
        public var weight: Float

        public init(a: UnsafeRawPointer, bt: UnsafeRawPointer, dora: UnsafePointer<Float>?, rows: Range<Int>, rank: Int,
                    type: Int32, weight: Float) {
            self.a = a
            self.bt = bt
            self.dora = dora
            self.rows = rows
            self.rank = rank
            self.type = type
            self.weight = weight
        }
    }

    /// A share of the work: one sequence's items (applied in order) over some of its rows.
    public struct LoRAPiece: Sendable {
        public var items: Range<Int>
        public var rows: Range<Int>

        public init(items: Range<Int>, rows: Range<Int>) {
            self.items = items
            self.rows = rows
        }
    }

    /// Adds the items' LoRA deltas to y ([rows, outputs]) from x ([rows, inputs]), pieces dealt to the compute
    /// threads in turn (or all on the calling thread when `parallel` is false: too little work to wake the pool).
    /// Rows never depend on which piece or thread computed them.
    public static func lora(
        items: [LoRAItem], pieces: [LoRAPiece], x: UnsafePointer<Float>, inputs: Int, y: UnsafeMutablePointer<Float>,
        outputs: Int, parallel: Bool, level: CPULevel = .selected, pool: ComputePool = .shared
    ) {
        let kernel = level.ops.pointee.lora_rows!
        let c = items.map {
            tk_lora_item(a: $0.a, bt: $0.bt, dora: $0.dora, row0: Int64($0.rows.lowerBound), rows: Int64($0.rows.count),
                         rank: Int32($0.rank), type: $0.type, weight: $0.weight)
        }
        let maxRank = items.map(\.rank).max() ?? 0
        nonisolated(unsafe) let x = x, y = y
        c.withUnsafeBufferPointer { cp in
            nonisolated(unsafe) let cp = cp
            func run(_ thread: Int, _ threads: Int) {
                Scratch.withFloats(maxRank) { scratch in
                    for p in stride(from: thread, to: pieces.count, by: threads) {
                        let piece = pieces[p]
                        kernel(cp.baseAddress! + piece.items.lowerBound, Int64(piece.items.count), Int64(piece.rows.lowerBound),
                               Int64(piece.rows.upperBound), x, Int64(inputs), Int64(inputs), y, Int64(outputs), Int64(outputs), scratch)
                    }
                }
            }
            if parallel { pool.run { run($0, $1) } } else { run(0, 1) }
        }
    }

    /// fp16 copies of floats (round to nearest even).
    public static func toFP16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, count: Int, level: CPULevel = .selected) {
        level.ops.pointee.to_fp16(x, y, Int64(count))
    }
}
