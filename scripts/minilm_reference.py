#!/usr/bin/env python3
"""Reference embeddings for the `huggingface` plugin's tests, computed independently of candle.

A plain numpy BERT forward pass (float64) over the same safetensors weights, then mean pooling
over the attention mask and L2 normalisation, as all-MiniLM-L6-v2's sentence-transformers
modules say.
The values printed here are pasted into crates/codex-builtins/src/huggingface/tests.rs.

Usage (throwaway venv, never committed):
    python3 -m venv /tmp/hfref-venv
    /tmp/hfref-venv/bin/pip install numpy safetensors tokenizers
    /tmp/hfref-venv/bin/python scripts/minilm_reference.py "$(scripts/fetch-minilm.sh)"
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "I love this product, it works great!",
    "A fast brown fox leaps over a sleepy dog.",
]


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    # The exact (erf) GELU that BERT's "gelu" activation means.
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def embed(weights, config, ids):
    w = {k: v.astype(np.float64) for k, v in weights.items() if v.dtype != np.int64}
    # Accept both plain ("embeddings.…") and prefixed ("bert.embeddings.…") checkpoints.
    if "embeddings.word_embeddings.weight" not in w:
        w = {k.removeprefix("bert."): v for k, v in w.items()}
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(n)]
        + w["embeddings.token_type_embeddings.weight"][np.zeros(n, dtype=np.int64)]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    hidden = x.shape[-1]
    head_dim = hidden // heads
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        q = linear(x, w, p + "attention.self.query").reshape(n, heads, head_dim).transpose(1, 0, 2)
        k = linear(x, w, p + "attention.self.key").reshape(n, heads, head_dim).transpose(1, 0, 2)
        v = linear(x, w, p + "attention.self.value").reshape(n, heads, head_dim).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
        attn = linear(ctx, w, p + "attention.output.dense")
        x = layer_norm(
            attn + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        inter = gelu(linear(x, w, p + "intermediate.dense"))
        out = linear(inter, w, p + "output.dense")
        x = layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    # No padding in a single sentence, so mean pooling is the plain mean over tokens.
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def main():
    model_dir = Path(sys.argv[1])
    config = json.loads((model_dir / "config.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    vectors = []
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence).ids
        vec = embed(weights, config, np.array(ids, dtype=np.int64))
        vectors.append(vec)
        print(f"{sentence!r}: ids={ids}")
        print("  first 5 dims:", ", ".join(f"{v:.6f}" for v in vec[:5]))
    for i in range(len(SENTENCES)):
        for j in range(i + 1, len(SENTENCES)):
            print(f"cosine({i}, {j}) = {float(vectors[i] @ vectors[j]):.6f}")


if __name__ == "__main__":
    main()
