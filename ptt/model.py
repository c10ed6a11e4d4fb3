"""PromptModel: a frozen backbone, a soft prompt, and the family's label scorer.

forward(batch) -> class scores [B, C]; the loss is cross-entropy over them, so training and
evaluation rank the same label words (rank classification, no `generate`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptt.backbones import split_masked_lm
from ptt.prompt import SoftPrompt, prepend

COSINE_SCALE = 20.0  # encoder family: scores are 20 x cosine, a temperature that lets softmax saturate


class PromptModel(nn.Module):
    """Args:
        backbone: frozen HF model of `family`.
        prompt: a module whose forward() returns the prompt [L, H]: the trainable SoftPrompt, or a
            projector applied to a source prompt (cross-model transfer).
        label_ids: [C] first-token ids of the label words (seq2seq, masked_lm).
        label_inputs: (ids [C, T], mask [C, T]) of each label's verbalizer text (encoder family).
    """

    def __init__(self, backbone: nn.Module, family: str, prompt: SoftPrompt, label_ids=None, label_inputs=None):
        super().__init__()
        self.backbone = backbone
        self.family = family
        self.prompt = prompt
        self.register_buffer("label_ids", torch.as_tensor(label_ids if label_ids is not None else []), persistent=False)
        self.label_inputs = label_inputs
        self._label_vecs: torch.Tensor | None = None

    def set_labels(self, label_ids=None, label_inputs=None) -> None:
        """Score another task's labels (its label words, or its verbalizer texts)."""
        device = self.label_ids.device
        self.label_ids = torch.as_tensor(label_ids if label_ids is not None else [], device=device)
        self.label_inputs = label_inputs
        self._label_vecs = None

    def train(self, mode: bool = True):
        """The engine may switch the wrapper to train mode; the backbone stays in eval (no dropout)."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, input_ids, attention_mask, mask_pos=None, use_prompt: bool = True) -> torch.Tensor:
        embeds = self.backbone.get_input_embeddings()(input_ids)
        n_prompt = 0
        if use_prompt:
            prompt = self.prompt()
            n_prompt = prompt.shape[0]
            embeds, attention_mask = prepend(prompt, embeds, attention_mask)
        return SCORERS[self.family](self, embeds, attention_mask, mask_pos, n_prompt)

    def _score_seq2seq(self, embeds, mask, mask_pos, n_prompt) -> torch.Tensor:
        start = self.backbone.config.decoder_start_token_id
        dec = torch.full((embeds.shape[0], 1), start, dtype=torch.long, device=embeds.device)
        logits = self.backbone(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=dec).logits
        return logits[:, 0, self.label_ids].float()

    def _score_masked_lm(self, embeds, mask, mask_pos, n_prompt) -> torch.Tensor:
        body, head = split_masked_lm(self.backbone)
        hidden = body(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        at_mask = hidden[torch.arange(hidden.shape[0], device=hidden.device), mask_pos + n_prompt]
        return head(at_mask)[:, self.label_ids].float()  # the LM head runs at the mask slot only

    def _score_encoder(self, embeds, mask, mask_pos, n_prompt) -> torch.Tensor:
        hidden = self.backbone(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        text_mask = mask.clone()
        text_mask[:, :n_prompt] = 0  # pool the text positions: the prompt acts through attention
        pooled = mean_pool(hidden, text_mask)
        return COSINE_SCALE * F.normalize(pooled.float(), dim=-1) @ self.label_vectors().T

    def label_vectors(self) -> torch.Tensor:
        """[C, H] unit vectors of the label texts, encoded once by the frozen backbone (no prompt)."""
        if self._label_vecs is None:
            ids, mask = (t.to(self.label_ids.device) for t in self.label_inputs)
            with torch.no_grad():
                hidden = self.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
                self._label_vecs = F.normalize(mean_pool(hidden, mask).float(), dim=-1)
        return self._label_vecs


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T, H], [B, T] -> [B, H]: mean of the hidden states where mask is 1."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


SCORERS = {
    "seq2seq": PromptModel._score_seq2seq,
    "masked_lm": PromptModel._score_masked_lm,
    "encoder": PromptModel._score_encoder,
}
