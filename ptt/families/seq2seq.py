"""seq2seq: encoder-decoder LMs (T5, T5 v1.1, LM-adapted T5, mT5).

The prompt goes in front of the encoder's input embeddings. A label is scored by the decoder's logit of its
word's first token at the first decoding step (rank classification, no decoding). Generation tasks train on
the target tokens (teacher forcing) and decode greedily with the decoder's key/value cache.
"""

from __future__ import annotations

import torch

from ptt.families.base import Family, FFNSite, LabelSpec, Probe, encode_pairs, greedy, plain_encode, word_labels

# T5DenseActDense (ReLU) or T5DenseGatedActDense (gated GELU: act(wi_0 x), before the product with wi_1 x);
# encoder blocks, then decoder blocks.
T5_FFN = (FFNSite("encoder.block", "layer.-1.DenseReluDense.act", "encoder"),
          FFNSite("decoder.block", "layer.-1.DenseReluDense.act", "decoder"))


def claims(config) -> bool:
    return bool(getattr(config, "is_encoder_decoder", False))


def score(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, labels, **_) -> torch.Tensor:
    """[B, C]: first-step decoder logits of the label words (the decoder starts from decoder_start_token_id)."""
    start = backbone.config.decoder_start_token_id
    dec = torch.full((embeds.shape[0], 1), start, dtype=torch.long, device=embeds.device)
    logits = backbone(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=dec, use_cache=False).logits
    return logits[:, 0, labels.ids].float()


def lm_loss(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, target_ids: torch.Tensor,
            target_mask: torch.Tensor, **_) -> torch.Tensor:
    """Teacher-forced cross-entropy of the target tokens (padding excluded); the decoder reads the shifted target."""
    labels = target_ids.masked_fill(target_mask == 0, -100)
    return backbone(inputs_embeds=embeds, attention_mask=mask, labels=labels, use_cache=False).loss


def generate(backbone, embeds: torch.Tensor, mask: torch.Tensor, max_new_tokens: int, eos_id: int, pad_id: int,
             use_cache: bool = True, synced: bool = False, steps: list | None = None) -> torch.Tensor:
    """[B, N] greedy tokens: the encoder runs once on the prompted input, the decoder one step at a time (with its
    key/value cache, or re-reading every token so far with use_cache False)."""
    encoded = backbone.get_encoder()(inputs_embeds=embeds, attention_mask=mask)
    start = torch.full((embeds.shape[0], 1), backbone.config.decoder_start_token_id, device=embeds.device)
    state = {"dec": start, "past": None}

    def run(dec_ids):
        out = backbone(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=dec_ids,
                       past_key_values=state["past"], use_cache=use_cache)
        state["past"] = out.past_key_values if use_cache else None
        return out.logits[:, -1]

    def advance(nxt):
        state["dec"] = torch.cat([state["dec"], nxt[:, None]], dim=1)
        return run(nxt[:, None] if use_cache else state["dec"])

    return greedy(run(start), advance, max_new_tokens, eos_id, pad_id, synced, steps)


def probe(tokenizer, max_length: int, n_prompt: int) -> Probe:
    """Input [</s>]; every encoder position (the prompt and the one token) and the decoder's only step."""
    row = plain_encode(tokenizer, [""], max_length)[0]
    labels = LabelSpec(ids=torch.as_tensor([row["input_ids"][0]]))  # any word: the head is not what is probed
    return Probe(row, {"encoder": list(range(n_prompt + len(row["input_ids"]))), "decoder": [0]}, labels)


FAMILY = Family(
    name="seq2seq", auto_class="AutoModelForSeq2SeqLM", claims=claims, encode=plain_encode, label_spec=word_labels,
    score=score, probe=probe, ffn_sites={"t5": T5_FFN, "mt5": T5_FFN},
    peft_task_type="SEQ_2_SEQ_LM", peft_submodules=2, encode_pair=encode_pairs, lm_loss=lm_loss, generate=generate,
)
