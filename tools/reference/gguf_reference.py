"""The fp32 transformers reference of a GGUF file (DESIGN 5), shared by the fixture scripts: a model built from the
ORIGINAL config (eager attention) carrying the weights DEQUANTIZED FROM THE GGUF with gguf-py, tensor names mapped back
through gguf's TensorNameMap and the converter's edits undone: the Q/K row permutation of the llama arch
(LlamaModel.permute), the +1 Gemma 3 adds to every `*norm.weight`. transformers' own GGUF loader is not used: it drops
llama3 RoPE scaling, reads no key_length and is not trusted for Gemma 3.

gemma3_reference(path) builds Gemma 3 270M this way, its config read from the GGUF's metadata and checked key by key.
"""
import numpy as np
import torch
from gguf import GGUFReader, MODEL_ARCH, MODEL_ARCH_NAMES, get_tensor_name_map
from gguf.quants import dequantize
from transformers import AutoModelForCausalLM, Gemma3TextConfig


def architecture(path):
    """general.architecture of a GGUF file."""
    return field(GGUFReader(path), "general.architecture")


def field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def gguf_tensors(path):
    """name -> float32 torch tensor in PyTorch's (rows, cols) order, dequantized with gguf-py."""
    reader = GGUFReader(path)
    out = {}
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape))
        data = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        out[t.name] = torch.from_numpy(data.copy())
    return reader, out


def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf's LlamaModel.permute (which pairs rotary dims for llama.cpp's NORM rope)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def reference_model(config, path):
    """transformers fp32 model from the original config with the GGUF's weights, converter edits undone."""
    reader, tensors = gguf_tensors(path)
    arch_name = field(reader, "general.architecture")
    arch = next(a for a, n in MODEL_ARCH_NAMES.items() if n == arch_name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    names = get_tensor_name_map(arch, config.num_hidden_layers)
    state = {}
    used = set()
    for key, param in model.state_dict().items():
        gname = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if key == "lm_head.weight" and (config.tie_word_embeddings or gname not in tensors):
            assert config.tie_word_embeddings and "output.weight" not in tensors
            continue
        assert gname in tensors, (key, gname)
        w = tensors[gname]
        used.add(gname)
        if arch == MODEL_ARCH.LLAMA:
            if key.endswith(("q_proj.weight", "q_proj.bias")):
                w = unpermute(w, config.num_attention_heads)
            elif key.endswith(("k_proj.weight", "k_proj.bias")):
                w = unpermute(w, config.num_key_value_heads)
        if arch == MODEL_ARCH.GEMMA3 and key.endswith("norm.weight"):
            w = w - 1.0  # Gemma3Model.norm_shift: the converter stores 1 + w
        assert tuple(w.shape) == tuple(param.shape), (key, w.shape, param.shape)
        state[key] = w
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected, (missing, unexpected)
    if config.tie_word_embeddings:
        model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    extra = set(tensors) - used
    assert extra <= {"rope_freqs.weight"}, extra
    if "rope_freqs.weight" in tensors:
        check_rope_freqs(model, config, tensors["rope_freqs.weight"])
    return model


def check_rope_freqs(model, config, factors):
    """llama.cpp divides the plain inverse frequencies by rope_freqs; it must equal HF's llama3 inv_freq."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    theta = config.rope_parameters["rope_theta"]
    plain = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    hf = model.model.rotary_emb.inv_freq
    err = (plain / factors - hf).abs().max().item() / hf.abs().max().item()
    assert err < 1e-5, err


def gemma270m_config(reader):
    """Gemma3TextConfig from the GGUF's metadata, checked against the expected 270M shape."""
    g = lambda k, d=None: field(reader, "gemma3." + k, d)  # noqa: E731
    tensors = {t.name: t for t in reader.tensors}
    vocab = int(tensors["token_embd.weight"].shape[1])
    kw = dict(vocab_size=vocab, hidden_size=g("embedding_length"), intermediate_size=g("feed_forward_length"),
              num_hidden_layers=g("block_count"), num_attention_heads=g("attention.head_count"),
              num_key_value_heads=g("attention.head_count_kv"), head_dim=g("attention.key_length"),
              sliding_window=g("attention.sliding_window"), rms_norm_eps=float(np.float32(g("attention.layer_norm_rms_epsilon"))),
              max_position_embeddings=g("context_length"))
    expected = dict(vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
                    num_attention_heads=4, num_key_value_heads=1, head_dim=256, sliding_window=512)
    for k, v in expected.items():
        assert kw[k] == v, (k, kw[k], v)
    assert g("attention.value_length") == 256 and abs(kw["rms_norm_eps"] - 1e-6) < 1e-12
    assert g("rope.freq_base") == 1e6 and g("rope.freq_base_swa", 10000.0) == 10000.0
    assert g("attention.sliding_window_pattern") is None  # llama.cpp's default: 6 (every 6th layer global)
    assert g("final_logit_softcapping") is None and g("rope.scaling.type") is None
    assert "output.weight" not in tensors  # tied
    kw["rms_norm_eps"] = 1e-6
    return Gemma3TextConfig(**kw, query_pre_attn_scalar=256, hidden_activation="gelu_pytorch_tanh",
                            rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                             "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
                            tie_word_embeddings=True, final_logit_softcapping=None, attn_logit_softcapping=None,
                            pad_token_id=0, eos_token_id=1, bos_token_id=2)


def gemma3_reference(path):
    """(config, fp32 eval model) of Gemma 3 270M from its GGUF."""
    reader = GGUFReader(path)
    config = gemma270m_config(reader)
    del reader
    return config, reference_model(config, path)
