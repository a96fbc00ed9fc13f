import Foundation
import TesseraKernels
import TesseraModel

/// Tessera's internal form of an adapter (DESIGN 3.4, 3.8): what the model applies, ready to use — scale folded into B,
/// DoRA's row factors precomputed — zstd-compressed. A flat binary layout rather than safetensors, so a cold load is
/// a decompression and a copy (no JSON to parse); zstd runs at a fast level without entropy-coding the literals,
/// since trained weights barely compress and decompression must stay near memory speed.
///
/// Two zstd frames. The header (little-endian u32s): "TSA2", kind, layers, hidden, virtual tokens, prefix tokens, delta
/// count; per delta: layer, projection, rank, has-DoRA. The payload (f32s, exact): every delta's A [rank, inputs] and
/// B transposed [rank, outputs] (the kernels' layout), then every DoRA factor, the virtual token embeddings and the
/// prefix entries. With fp32 deltas the A and Bt part decompresses straight into the buffer the deltas use; with
/// fp16 it is converted once. Decoding checks every count against the model, since files can be damaged.
public enum AdapterCodec {
    static let magic: UInt32 = 0x3241_5354  // "TSA2"
    static let kinds = AdapterKind.allCases

    public static func encode(_ adapter: LoadedAdapter) -> Data {
        let w = adapter.weights
        let deltas = w.deltas.enumerated().flatMap { l, layer in
            Projection.allCases.compactMap { p in layer[p.rawValue].map { (l, p, $0) } }
        }
        var header: [UInt32] = [magic, UInt32(kinds.firstIndex(of: adapter.kind)!), UInt32(w.deltas.count),
                                UInt32(w.virtualTokenCount > 0 ? w.virtualTokens.count / w.virtualTokenCount : 0),
                                UInt32(w.virtualTokenCount), UInt32(w.prefixTokenCount), UInt32(deltas.count)]
        for (l, p, d) in deltas { header += [UInt32(l), UInt32(p.rawValue), UInt32(d.rank), d.isDoRA ? 1 : 0] }
        var payload = Data(capacity: w.bytes)
        for (_, _, d) in deltas {
            let (a, bt) = d.values()
            a.withUnsafeBytes { payload.append(contentsOf: $0) }
            bt.withUnsafeBytes { payload.append(contentsOf: $0) }
        }
        for (_, _, d) in deltas { d.doraScale?.withUnsafeBytes { payload.append(contentsOf: $0) } }
        w.virtualTokens.withUnsafeBytes { payload.append(contentsOf: $0) }
        w.prefix.withUnsafeBytes { payload.append(contentsOf: $0) }
        return Zstd.compress(header.withUnsafeBytes { Data($0) }, level: 1) + Zstd.compress(payload, level: -1)
    }

    public static func decode(
        _ data: UnsafeRawBufferPointer, config c: ModelConfig, name: String, limit: Int = 1 << 30,
        precision: LowRankDelta.Precision = .selected
    ) throws(AdapterError) -> LoadedAdapter {
        let headerFrame = Zstd.frameSize(data)
        guard headerFrame > 0, headerFrame < data.count else { throw AdapterError("\(name): not a Tessera adapter file") }
        let header = try Zstd.decompress(UnsafeRawBufferPointer(rebasing: data[..<headerFrame]), limit: 1 << 20, name: name)
        let specs = try header.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            Result { () throws(AdapterError) -> Header in try parseHeader(bytes, config: c, name: name) }
        }.get()
        let deltaFloats = specs.deltas.reduce(0) { $0 + $1.rank * ($1.inputs + $1.outputs) }
        let otherFloats = specs.deltas.reduce(0) { $0 + ($1.dora ? $1.outputs : 0) } + specs.virtual * c.hidden
            + specs.prefix * c.layers * 2 * c.kvHeads * c.headDim
        let payloadBytes = 4 * (deltaFloats + otherFloats)
        guard payloadBytes <= limit else { throw AdapterError("\(name): \(payloadBytes) bytes of weights, over the limit of \(limit)") }
        // Values were checked when the adapter was uploaded; the frame's checksum proves these are the same bytes.
        let storage = OwnedWeights(bytes: payloadBytes)
        try Zstd.decompress(UnsafeRawBufferPointer(rebasing: data[headerFrame...]), into: storage.pointer, size: payloadBytes, name: name)
        let all = UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: Float.self), count: payloadBytes / 4)
        let deltaStorage: OwnedWeights
        switch precision {
        case .f32: deltaStorage = storage
        case .f16:
            deltaStorage = OwnedWeights(bytes: deltaFloats * 2)
            LowRankDelta.store(UnsafeBufferPointer(rebasing: all[..<deltaFloats]), into: deltaStorage.pointer, .f16)
        }
        var deltas = AdapterWeights.noDeltas(c)
        var at = 0, extra = deltaFloats
        func take(_ n: Int) -> [Float] {
            defer { extra += n }
            return Array(all[extra..<extra + n])
        }
        for s in specs.deltas {
            deltas[s.layer][s.projection.rawValue] = LowRankDelta(
                rank: s.rank, inputs: s.inputs, outputs: s.outputs, doraScale: s.dora ? take(s.outputs) : nil, storage: deltaStorage,
                offset: at, precision: precision)
            at += s.rank * (s.inputs + s.outputs)
        }
        let weights = AdapterWeights(deltas: deltas, virtualTokens: take(specs.virtual * c.hidden), virtualTokenCount: specs.virtual,
                                     prefix: take(specs.prefix * c.layers * 2 * c.kvHeads * c.headDim), prefixTokenCount: specs.prefix)
        return LoadedAdapter(kind: specs.kind, weights: weights, warnings: [])
    }

    private struct Header {
        var kind: AdapterKind
        var virtual: Int
        var prefix: Int
        var deltas: [(layer: Int, projection: Projection, rank: Int, inputs: Int, outputs: Int, dora: Bool)]
    }

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, config c: ModelConfig, name: String) throws(AdapterError) -> Header {
        var at = 0
        func fail(_ what: String) -> AdapterError { AdapterError("\(name): \(what) (header byte \(at))") }
        func u32() throws(AdapterError) -> Int {
            guard at + 4 <= bytes.count else { throw fail("truncated") }
            defer { at += 4 }
            return Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
        }
        guard try u32() == Int(magic) else { throw fail("not a Tessera adapter file") }
        let kindIndex = try u32()
        guard kindIndex < kinds.count else { throw fail("unknown adapter kind \(kindIndex)") }
        let layers = try u32(), hidden = try u32(), virtual = try u32(), prefix = try u32(), count = try u32()
        guard layers == c.layers, virtual == 0 || hidden == c.hidden else {
            throw fail("made for \(layers) layers and hidden size \(hidden), not this model's \(c.layers) and \(c.hidden)")
        }
        guard count <= c.layers * Projection.allCases.count, virtual <= 1 << 16, prefix <= 1 << 16 else { throw fail("implausible counts") }
        var header = Header(kind: kinds[kindIndex], virtual: virtual, prefix: prefix, deltas: [])
        for _ in 0..<count {
            let l = try u32(), p = try u32(), rank = try u32(), dora = try u32()
            guard l < c.layers, let projection = Projection(rawValue: p), (1...4096).contains(rank), dora <= 1 else {
                throw fail("bad delta entry")
            }
            let (outputs, inputs) = projection.shape(c)
            header.deltas.append((l, projection, rank, inputs, outputs, dora == 1))
        }
        guard at == bytes.count else { throw fail("\(bytes.count - at) bytes left over") }
        return header
    }
}
