#!/usr/bin/env python3
"""Independent numpy reference for a Hugging Face LlamaForCausalLM folder (f32 math), for the runtime's tests.

Usage: llm_reference.py MODEL_DIR [--out DIR] [--new-tokens N]

Why: tests need expected token ids and logits that do not come from the runtime itself. This is a plain
re-implementation of Hugging Face's Llama forward pass written from the formulas (RMSNorm, RoPE with
rotate_half, grouped-query attention with a causal mask, SwiGLU, tied embeddings), reading config.json and
model.safetensors with numpy only. Weights are upcast to f32 and every operation runs in f32.

For each fixed prompt it writes, to MODEL_DIR/reference/ (or --out):
- logits_<name>.f32: the logits at the prompt's last position (raw little-endian f32, vocab_size values);
- reference.json: ids, rendered prompt, greedy continuation (argmax, EOS not masked, always N tokens) with
  the top-1/top-2 margin and top-5 of every step (small margins = steps where f16 runtimes may differ),
  logits sha256/argmax/stats, timings.
"""
import argparse, hashlib, json, math, os, struct, time
import numpy as np

SYSTEM_DEFAULT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
LONG_BEES = (
    "Honeybees live in colonies that behave, in many ways, like a single animal. A strong colony in summer may hold "
    "forty thousand workers, a few hundred drones and one queen. The queen lays the eggs, sometimes more than a "
    "thousand in a day, while the workers do almost everything else. A young worker begins her adult life by "
    "cleaning the cells of the comb. After a few days she starts to feed the larvae with a rich food made in glands "
    "in her head. Later she builds new comb from wax, takes nectar from returning foragers, fans her wings to cool "
    "the nest and guards the entrance against wasps and robbers from other hives. Only in the last weeks of her "
    "short life does she fly out to forage. Foragers visit flowers within a few kilometres of the hive and bring "
    "home nectar, pollen, water and resin. When a forager finds a rich patch of flowers, she returns and dances on "
    "the comb. The angle of her waggle run tells her sisters the direction of the food relative to the sun, and its "
    "length tells them how far away it is. Nectar is passed from bee to bee, mixed with enzymes and spread out "
    "thinly so that water can evaporate. Once it has thickened into honey, the workers seal each cell with a cap of "
    "fresh wax. In autumn the colony shrinks, the drones are driven out, and the bees that remain form a tight "
    "cluster around the queen, shivering their flight muscles to keep her warm until spring.")
# name, chat messages or plain text, token count llama.cpp (wllama 3.8.1) reports (peer benchmark), or None.
PROMPTS = [
    ("chat", [{"role": "user", "content": "What is the capital of France?"}], None),
    ("chat_colors", [{"role": "user", "content": "Name three primary colors."}], 35),
    ("text_bread", "The recipe for a simple loaf of bread needs only four ingredients:", 13),
    ("long_bees", LONG_BEES, 298),
    ("non_ascii", "Grüße aus Köln! Das Wetter in 東京 ist heute schön 🙂", None),
]
CHAT_COLORS_TEXT = ("<|im_start|>system\n" + SYSTEM_DEFAULT + "<|im_end|>\n<|im_start|>user\n"
                    "Name three primary colors.<|im_end|>\n<|im_start|>assistant\n")  # prompts.json's text


def load_safetensors(path):
    """{name: f32 array} from a safetensors file (F16/BF16/F32), parsed with numpy."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, h in header.items():
        s, e = h["data_offsets"]
        b = raw[s:e]
        if h["dtype"] == "F16":
            a = b.view("<f2").astype(np.float32)
        elif h["dtype"] == "BF16":
            a = (b.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif h["dtype"] == "F32":
            a = np.array(b.view("<f4"), dtype=np.float32)
        else:
            raise SystemExit(f"{name}: dtype {h['dtype']} not handled")
        out[name] = a.reshape(h["shape"])
    return out


def rope_inv_freq(cfg, hd):
    """HF's default inv_freq (f32), with the 'llama3' rope_scaling of _compute_llama3_parameters if set."""
    inv = (1.0 / (np.float32(cfg.get("rope_theta", 10000.0)) ** (np.arange(0, hd, 2, dtype=np.float32) / hd)))
    inv = inv.astype(np.float32)
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "default":
        return inv
    assert kind == "llama3", f"rope_scaling {kind} not handled"
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    lo_wavelen, hi_wavelen = old / lo, old / hi
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > lo_wavelen, inv / factor, inv)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < hi_wavelen) & ~(wavelen > lo_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


class Llama:
    """Llama forward pass (HF semantics) with a KV cache; all f32."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        assert cfg.get("hidden_act", "silu") == "silu" and not cfg.get("attention_bias") and not cfg.get("mlp_bias")
        self.w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.n_layer, self.n_head = cfg["num_hidden_layers"], cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads", self.n_head)
        self.hd = cfg.get("head_dim") or cfg["hidden_size"] // self.n_head
        self.eps = np.float32(cfg["rms_norm_eps"])
        self.inv_freq = rope_inv_freq(cfg, self.hd)
        self.embed = self.w["model.embed_tokens.weight"]
        self.lm_head = self.w.get("lm_head.weight", self.embed if cfg.get("tie_word_embeddings", True) else None)
        assert self.lm_head is not None, "no lm_head.weight and embeddings not tied"

    def rms_norm(self, x, w):
        return x * (1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps)) * w

    def rope(self, x, pos):
        """x [heads, T, hd]; HF rotate_half convention (first half / second half, not interleaved)."""
        freqs = pos.astype(np.float32)[:, None] * self.inv_freq[None, :]
        emb = np.concatenate([freqs, freqs], axis=-1)
        cos, sin = np.cos(emb), np.sin(emb)
        half = self.hd // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rot * sin

    def forward(self, ids, cache):
        """Hidden states after the final norm for ids appended after the cache's positions; cache updated."""
        start, T = (cache[0][0].shape[1] if cache else 0), len(ids)
        pos = np.arange(start, start + T)
        x = self.embed[np.asarray(ids)]
        S = start + T
        mask = np.where(np.arange(S)[None, :] <= pos[:, None], 0.0, -np.inf).astype(np.float32)
        group = self.n_head // self.n_kv
        for i in range(self.n_layer):
            p = f"model.layers.{i}."
            h = self.rms_norm(x, self.w[p + "input_layernorm.weight"])
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).reshape(T, self.n_head, self.hd).transpose(1, 0, 2)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).reshape(T, self.n_kv, self.hd).transpose(1, 0, 2)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).reshape(T, self.n_kv, self.hd).transpose(1, 0, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if len(cache) > i:
                k = np.concatenate([cache[i][0], k], axis=1)
                v = np.concatenate([cache[i][1], v], axis=1)
                cache[i] = (k, v)
            else:
                cache.append((k, v))
            kf, vf = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)  # q head h uses kv head h // group
            s = (q @ kf.transpose(0, 2, 1)) * np.float32(1.0 / math.sqrt(self.hd)) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            a = (s @ vf).transpose(1, 0, 2).reshape(T, self.n_head * self.hd)
            x = x + a @ self.w[p + "self_attn.o_proj.weight"].T
            h = self.rms_norm(x, self.w[p + "post_attention_layernorm.weight"])
            g = h @ self.w[p + "mlp.gate_proj.weight"].T
            with np.errstate(over="ignore"):
                g = g / (1.0 + np.exp(-g))  # silu
            x = x + (g * (h @ self.w[p + "mlp.up_proj.weight"].T)) @ self.w[p + "mlp.down_proj.weight"].T
        return self.rms_norm(x, self.w["model.norm.weight"])

    def logits(self, h_last):
        return (h_last @ self.lm_head.T).astype(np.float32)


def render_chat(template, messages, tok_cfg):
    """The chat template rendered as transformers does (sandboxed jinja2, trim/lstrip blocks)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                            bos_token=tok_cfg.get("bos_token"), eos_token=tok_cfg.get("eos_token"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def top5(lg):
    i = np.argsort(-lg, kind="stable")[:5]
    return [int(t) for t in i], [float(lg[t]) for t in i]


def run_prompt(model, tok, name, text, n_new, out_dir):
    t0 = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    cache = []
    h = model.forward(ids, cache)
    lg = model.logits(h[-1])
    t_prefill = time.perf_counter() - t0
    fname = f"logits_{name}.f32"
    lg.astype("<f4").tofile(os.path.join(out_dir, fname))
    first = lg
    steps, greedy = [], []
    for n in range(n_new):
        top_ids, top_vals = top5(lg)
        greedy.append(top_ids[0])
        steps.append({"top5_ids": top_ids, "top5_logits": top_vals, "margin": top_vals[0] - top_vals[1]})
        if n + 1 < n_new:
            lg = model.logits(model.forward([greedy[-1]], cache)[-1])
    margins = [s["margin"] for s in steps]
    # Self-check of the KV cache: one full forward over prompt + greedy[:-1] must give the last step's logits.
    full = model.logits(model.forward(ids + greedy[:-1], [])[-1])
    kv_diff = float(np.abs(full - lg).max())
    assert kv_diff < 1e-3 and int(np.argmax(full)) == greedy[-1], f"{name}: KV cache vs recompute differ by {kv_diff}"
    return {
        "name": name, "text": text, "ids": ids, "n_tokens": len(ids),
        "greedy_ids": greedy, "greedy_text": tok.decode(greedy, skip_special_tokens=False),
        "greedy_margins": margins, "min_margin": min(margins), "min_margin_step": int(np.argmin(margins)),
        "greedy_steps": steps,
        "logits_file": fname, "logits_sha256": hashlib.sha256(first.astype("<f4").tobytes()).hexdigest(),
        "argmax": int(np.argmax(first)),
        "logits_stats": {"min": float(first.min()), "max": float(first.max()), "mean": float(first.mean()),
                         "std": float(first.std())},
        "kv_cache_vs_recompute_max_abs": kv_diff,
        "seconds": {"prefill": round(t_prefill, 3), "total": round(time.perf_counter() - t0, 3)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--out", help="output folder (default MODEL_DIR/reference)")
    ap.add_argument("--new-tokens", type=int, default=16)
    a = ap.parse_args()
    from tokenizers import Tokenizer
    t_start = time.perf_counter()
    out_dir = a.out or os.path.join(a.model_dir, "reference")
    os.makedirs(out_dir, exist_ok=True)
    tok = Tokenizer.from_file(os.path.join(a.model_dir, "tokenizer.json"))
    with open(os.path.join(a.model_dir, "tokenizer_config.json")) as f:
        tok_cfg = json.load(f)
    model = Llama(a.model_dir)
    t_load = time.perf_counter() - t_start

    results = []
    for name, what, expect_n in PROMPTS:
        chat = isinstance(what, list)
        text = render_chat(tok_cfg["chat_template"], what, tok_cfg) if chat else what
        if name == "chat_colors":
            assert text == CHAT_COLORS_TEXT, repr(text)
        r = run_prompt(model, tok, name, text, a.new_tokens, out_dir)
        if chat:
            r = {"name": name, "kind": "chat", "messages": what, "add_generation_prompt": True, **r}
        else:
            r = {"name": name, "kind": "text", **r}
        r["expected_n_tokens"] = expect_n
        assert expect_n is None or r["n_tokens"] == expect_n, f"{name}: {r['n_tokens']} tokens, llama.cpp has {expect_n}"
        assert tok.decode(r["ids"], skip_special_tokens=False) == text, f"{name}: tokenizer round trip"
        results.append(r)
        print(f"[llm-reference] {name}: {r['n_tokens']} tokens, {r['seconds']['total']} s, "
              f"min margin {r['min_margin']:.3f} -> {r['greedy_text']!r}", flush=True)

    cfg = model.cfg
    doc = {
        "what": "numpy f32 reference of the HF Llama forward pass (scripts/llm_reference.py): weights upcast from "
                "the file's dtype; prompt tokenized with tokenizer.json (special tokens parsed, no BOS); logits_<name>.f32 "
                "= logits at the prompt's last position; greedy = argmax, EOS ids not masked, exactly new_tokens ids; "
                "margin = top1 - top2 logit at each step",
        "model_safetensors_sha256": sha256(os.path.join(a.model_dir, "model.safetensors")),
        "config": {k: cfg.get(k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                            "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta",
                                            "rope_scaling", "vocab_size", "tie_word_embeddings")},
        "eos_token_ids": sorted({cfg.get("eos_token_id"), tok.token_to_id(tok_cfg["eos_token"])} - {None}),
        "new_tokens": a.new_tokens, "numpy": np.__version__,
        "capital_of_france_answer": results[0]["greedy_text"],
        "seconds": {"load": round(t_load, 3), "total": round(time.perf_counter() - t_start, 3)},
        "prompts": results,
    }
    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"[llm-reference] capital of France: {results[0]['greedy_text']!r}")
    print(f"[llm-reference] wrote reference.json and logits_*.f32 in {doc['seconds']['total']} s")


if __name__ == "__main__":
    main()
