/// Names a request may use as `model`: an adapter's name (DESIGN 3.10), or a fine-tuned model's,
/// `ft:<base>:<tenant>:<suffix>:<job id>` and its checkpoints' `...:ckpt-step-N`, OpenAI's shape. Neither ever becomes
/// a path: adapters are stored under server-made ids.
public enum ModelName {
    public static func isValid(_ name: String) -> Bool {
        Tenant.isValidName(name) || isFineTuned(name)
    }

    public static func isFineTuned(_ name: String) -> Bool {
        let u = Array(name.utf8)
        return name.hasPrefix("ft:") && u.count <= 320 && u.allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || [0x2e, 0x5f, 0x2d, 0x3a].contains($0)
        }
    }

    /// The model a job makes.
    static func fineTuned(base: String, tenant: String, suffix: String?, job: String) -> String {
        "ft:\(base):\(tenant):\(suffix ?? ""):\(job)"
    }

    static func checkpoint(of model: String, step: Int) -> String { "\(model):ckpt-step-\(step)" }
}
