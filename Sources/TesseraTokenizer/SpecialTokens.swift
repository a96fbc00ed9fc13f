/// The special tokens of a model and which tokens end a generation, as llama.cpp derives them from the GGUF
/// metadata and (where converters left them out) from the tokens' text.
public struct SpecialTokens: Sendable {
    public var bos: Int32?
    public var eos: Int32?
    /// End of turn (`<|eot_id|>`, `<|im_end|>`, `<end_of_turn>` …).
    public var eot: Int32?
    /// End of message (Llama 3.1's `<|eom_id|>` after a tool call).
    public var eom: Int32?
    public var unknown: Int32?
    public var separator: Int32?
    public var padding: Int32?
    public var mask: Int32?
    public var addBOS: Bool
    public var addEOS: Bool
    /// Every token whose generation ends the answer (llama.cpp's `special_eog_ids`).
    public var endOfGeneration: Set<Int32>

    /// The ids a tokenizer model assumes when the file names none.
    enum Defaults {
        case none, sentencePiece, bytePair, bytePairWithBOS, bytePairWithoutBOS
    }

    /// The token that closes an assistant turn in this model's chat format: the end-of-turn token where the model
    /// has one, else EOS.
    public var turnEnd: Int32? { eot ?? eos }

    /// Texts that end a generation wherever they occur in a vocabulary (llama.cpp's list; converters often leave
    /// these tokens typed as normal).
    static let endOfGenerationTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ]
    static let endOfTurnTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
        "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ]
    static let fimPadTexts: Set<String> = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]
    static let fimRepoTexts: Set<String> = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]
    static let fimSepTexts: Set<String> = ["<|file_sep|>"]
    static let fimPrefixTexts: Set<String> = [
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>",
    ]
    static let fimSuffixTexts: Set<String> = [
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>",
    ]
    static let fimMiddleTexts: Set<String> = [
        "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>",
    ]

    /// `alwaysAddBOS`: llama.cpp adds BOS for Gemma 4's pre-tokenizer whatever the file says.
    init(metadata m: GGUFMetadataReader, defaults: Defaults, alwaysAddBOS: Bool = false, vocabulary v: inout Vocabulary) throws(TokenizerError) {
        let n = v.count
        func inRange(_ id: Int32?) -> Int32? { id.flatMap { $0 >= 0 && Int($0) < n ? $0 : nil } }
        switch defaults {
        case .sentencePiece: bos = inRange(1); eos = inRange(2); unknown = inRange(0); addBOS = true
        case .bytePair: bos = inRange(11); eos = inRange(11); addBOS = false
        case .bytePairWithBOS: bos = inRange(11); eos = inRange(11); addBOS = true
        case .bytePairWithoutBOS: eos = inRange(11); addBOS = false
        case .none: addBOS = false
        }
        addEOS = false
        // An id outside the vocabulary keeps the default, as llama.cpp does (with a warning there).
        func read(_ key: String, _ current: Int32?) -> Int32? {
            guard let value = m.optionalInt(key) else { return current }
            return value >= 0 && value < n ? Int32(value) : current
        }
        bos = read("tokenizer.ggml.bos_token_id", bos)
        eos = read("tokenizer.ggml.eos_token_id", eos)
        eot = read("tokenizer.ggml.eot_token_id", nil)
        eom = read("tokenizer.ggml.eom_token_id", nil)
        unknown = read("tokenizer.ggml.unknown_token_id", unknown)
        separator = read("tokenizer.ggml.seperator_token_id", nil)
        padding = read("tokenizer.ggml.padding_token_id", nil)
        mask = read("tokenizer.ggml.mask_token_id", nil)
        // FIM tokens: the file's ids (the deprecated keys last, as llama.cpp reads them), else the first token with a
        // known text (which only then becomes control).
        var fimPrefix = read("tokenizer.ggml.prefix_token_id", read("tokenizer.ggml.fim_pre_token_id", nil))
        var fimSuffix = read("tokenizer.ggml.suffix_token_id", read("tokenizer.ggml.fim_suf_token_id", nil))
        var fimMiddle = read("tokenizer.ggml.middle_token_id", read("tokenizer.ggml.fim_mid_token_id", nil))
        var fimPad = read("tokenizer.ggml.fim_pad_token_id", nil)
        var fimRepo = read("tokenizer.ggml.fim_rep_token_id", nil)
        var fimSep = read("tokenizer.ggml.fim_sep_token_id", nil)
        if let b = try m.optionalBool("tokenizer.ggml.add_bos_token") { addBOS = b }
        if let e = try m.optionalBool("tokenizer.ggml.add_eos_token") { addEOS = e }
        if alwaysAddBOS { addBOS = true }
        if addBOS && bos == nil { throw TokenizerError("\(m.path): the tokenizer adds a BOS token but names none") }
        if addEOS && eos == nil { throw TokenizerError("\(m.path): the tokenizer adds an EOS token but names none") }

        // Tokens that look like control tokens become control tokens, and the end-of-generation set is built from
        // their text, as llama.cpp does. Where several tokens could be the end of turn, the lowest id is taken
        // (llama.cpp takes whichever its hash map yields first; the EOG set, which is what stops generation, is
        // the same either way).
        var eog = Set<Int32>()
        for id in 0..<Int32(n) {
            let text = v.tokens[Int(id)]
            var makeControl = false
            if eot == nil && Self.endOfTurnTexts.contains(text) { eot = id; makeControl = true }
            if eom == nil && text == "<|eom_id|>" { eom = id; makeControl = true }
            if fimPad == nil && Self.fimPadTexts.contains(text) { fimPad = id; makeControl = true }
            if fimRepo == nil && Self.fimRepoTexts.contains(text) { fimRepo = id; makeControl = true }
            if fimSep == nil && Self.fimSepTexts.contains(text) { fimSep = id; makeControl = true }
            if fimPrefix == nil && Self.fimPrefixTexts.contains(text) { fimPrefix = id; makeControl = true }
            if fimSuffix == nil && Self.fimSuffixTexts.contains(text) { fimSuffix = id; makeControl = true }
            if fimMiddle == nil && Self.fimMiddleTexts.contains(text) { fimMiddle = id; makeControl = true }
            if Self.endOfGenerationTexts.contains(text) { eog.insert(id); makeControl = true }
            if makeControl { v.attributes[Int(id)].insert(.control) }
        }
        for id in [fimPad, fimRepo, fimSep, eos, eot, eom].compactMap({ $0 }) { eog.insert(id) }
        for id in 0..<n {
            let text = v.tokens[id]
            if v.attributes[id].contains(.control) && text.contains("unused") { v.attributes[id].insert(.unused) }
            // gpt-oss's channel markers are printed like text.
            if ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"].contains(text) { v.attributes[id] = .userDefined }
        }
        // o200k_harmony and solar-open: <|end|> ends a message, not the generation.
        let eogTexts = Set(eog.map { v.tokens[Int($0)] })
        if (eogTexts.contains("<|return|>") && eogTexts.contains("<|call|>") || eogTexts.contains("<|calls|>") && eogTexts.contains("<|flush|>")),
           let end = eog.first(where: { v.tokens[Int($0)] == "<|end|>" }) {
            eog.remove(end)
            v.attributes[Int(end)] = .userDefined
        }
        // Gemma 4 and PLaMo have an ordinary </s>.
        if eogTexts.contains("<|tool_response>") || eogTexts.contains("<|plamo:eos|>"),
           let s = eog.first(where: { v.tokens[Int($0)] == "</s>" }) {
            eog.remove(s)
            v.attributes[Int(s)] = .normal
        }
        endOfGeneration = eog

        // Phi-3 files: special tokens swallow the whitespace after them (llama.cpp sets this by model name).
        let name = (m.optionalString("general.name") ?? "").lowercased()
        if name.contains("phi-3") || name.contains("phi3") {
            for id in 0..<n where !v.attributes[id].isDisjoint(with: [.control, .userDefined, .unknown]) {
                v.attributes[id].insert(.rstrip)
            }
            if let s = v.id(of: "</s>") { v.attributes[Int(s)].insert(.rstrip) }
            for t in ["<unk>", "<s>", "<|endoftext|>"] { if let id = v.id(of: t) { v.attributes[Int(id)].remove(.rstrip) } }
        }
    }
}
