import Foundation
import TesseraFormats
import TesseraModel

/// A run's state after a step: a PEFT directory (usable as an adapter as it is) plus `optimizer.safetensors` (AdamW's
/// moments under the parameters' names) and `trainer_state.json` (the step and the optimizer's kind and counter).
public struct TrainingCheckpoint: Sendable {
    public var lora: AdapterParameters
    public var optimizer: Optimizer
    public var step: Int

    public init(lora: AdapterParameters, optimizer: Optimizer, step: Int) {
        self.lora = lora
        self.optimizer = optimizer
        self.step = step
    }

    struct State: Codable {
        var step: Int
        var optimizer: String
        var optimizerSteps: Int
        var weightDecay: Float

        enum CodingKeys: String, CodingKey {
            case step, optimizer, optimizerSteps = "optimizer_steps", weightDecay = "weight_decay"
        }
    }

    /// Writes the checkpoint to `path`, atomically.
    public func write(to path: String, baseModel: String) throws(PEFTDirectory.Error) {
        let names = lora.names
        var moments: [(name: String, shape: [Int], values: [Float])] = []
        for (i, n) in names.enumerated() where !optimizer.m.isEmpty {
            moments.append((n.name + ".exp_avg", n.shape, optimizer.m[i]))
            moments.append((n.name + ".exp_avg_sq", n.shape, optimizer.v[i]))
        }
        let state = State(step: step, optimizer: optimizer.kind.rawValue, optimizerSteps: optimizer.step,
                          weightDecay: optimizer.weightDecay)
        let stateJSON: Data
        do { stateJSON = try JSONEncoder().encode(state) } catch { throw .init("cannot encode the trainer state: \(error)") }
        var files = try PEFTDirectory.files(lora, baseModel: baseModel, encoder: true)
        files["optimizer.safetensors"] = Safetensors.encode(moments, metadata: ["format": "pt"])
        files["trainer_state.json"] = stateJSON
        try PEFTDirectory.writeAtomically(path, files: files)
    }

    /// Reads a checkpoint written by `write`.
    public static func read(_ path: String, config: ModelConfig) throws(PEFTDirectory.Error) -> TrainingCheckpoint {
        let lora = try PEFTDirectory.read(path, config: config)
        let dir = URL(fileURLWithPath: path)
        guard let json = FileManager.default.contents(atPath: dir.appendingPathComponent("trainer_state.json").path) else {
            throw .init("\(path): no trainer_state.json; not a checkpoint")
        }
        let state: State
        do { state = try JSONDecoder().decode(State.self, from: json) } catch { throw .init("\(path)/trainer_state.json: \(error)") }
        guard let kind = Optimizer.Kind(rawValue: state.optimizer), state.step >= 0, state.optimizerSteps >= 0 else {
            throw .init("\(path)/trainer_state.json: bad optimizer or step")
        }
        var m: [[Float]] = [], v: [[Float]] = []
        if kind == .adamw, state.optimizerSteps > 0 {
            let file = dir.appendingPathComponent("optimizer.safetensors")
            guard let bytes = FileManager.default.contents(atPath: file.path) else { throw .init("\(path): no optimizer.safetensors") }
            do {
                let st = try Safetensors(bytes: bytes, name: file.lastPathComponent)
                for (n, shape) in lora.names {
                    for (suffix, i) in [(".exp_avg", 0), (".exp_avg_sq", 1)] {
                        guard let t = st.tensors[n + suffix], t.shape == shape else {
                            throw PEFTDirectory.Error("\(file.path): '\(n + suffix)' is missing or not \(shape)")
                        }
                        if i == 0 { m.append(try st.floats(n + suffix)) } else { v.append(try st.floats(n + suffix)) }
                    }
                }
            } catch let e as PEFTDirectory.Error {
                throw e
            } catch {
                throw .init("\(file.path): \(error)")
            }
        }
        let optimizer = Optimizer(kind: kind, weightDecay: state.weightDecay, step: state.optimizerSteps, m: m, v: v)
        return TrainingCheckpoint(lora: lora, optimizer: optimizer, step: state.step)
    }
}
