"""Build a small random-weight backbone from config with real tokenizer files, saved as a model folder.

For demos that need a second backbone next to the bundled MiniLM on a machine with no hub access:
    python examples/tiny_backbone.py t5 runs/tiny-t5
"""

import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, RobertaConfig, RobertaForMaskedLM, T5Config, T5ForConditionalGeneration

TOKENIZERS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tokenizers"


def build(kind: str, out: Path) -> None:
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(TOKENIZERS / kind))
    if kind == "t5":
        cfg = T5Config(vocab_size=len(tok), d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2,
                       num_heads=4, decoder_start_token_id=tok.pad_token_id, pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.eos_token_id)
        model = T5ForConditionalGeneration(cfg)
    elif kind == "roberta":
        cfg = RobertaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=128, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)
        model = RobertaForMaskedLM(cfg)
    else:
        raise SystemExit(f"kind {kind!r}: choose t5 or roberta")
    model.save_pretrained(out)
    tok.save_pretrained(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python examples/tiny_backbone.py {t5,roberta} OUT_DIR")
    build(sys.argv[1], Path(sys.argv[2]))
