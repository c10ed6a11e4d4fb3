"""Activated-neuron capture on tiny T5 / RoBERTa / BERT under ZeRO-3, `ptt indicators` end to end, the prompt
library, and the PEFT prompt-tuning round trip (PEFT loads ptt's export; ptt imports PEFT's own adapters)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ptt.cli import main
from ptt.config import IndicatorsConfig
from ptt.core.prompt import prepend
from ptt.core.tasks import get_task
from ptt.errors import PttError
from ptt.families import FAMILIES
from ptt.families.loading import load_frozen
from ptt.runtime.artifacts import load_prompt, save_prompt
from ptt.scoring import open_scorer
from ptt.transfer.indicators.matrices import indicator_matrices
from ptt.transfer.indicators.overlap import activation_masks, ffn_modules
from ptt.transfer.sources.library import list_library, render_table, show
from ptt.transfer.peft import export_peft, import_peft
from ptt.transfer.indicators.overlap import on_all
from tests.helpers import tiny_cfg


D_FF = 64  # intermediate size of every tiny model in tests/conftest.py
L = 4


def random_prompt(hidden: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(L, hidden, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.fixture(scope="module")
def sharp_models(tiny_models, tmp_path_factory) -> dict[str, str]:
    """The tiny RoBERTa and BERT with their 2-D weights redrawn at std 0.3: at the default std 0.02 attention is
    so flat that a prompt barely moves the <mask> / CLS position and every prompt activates the same neurons."""
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    root = tmp_path_factory.mktemp("sharp")
    out = {}
    for kind, cls in (("roberta", AutoModelForMaskedLM), ("bert", AutoModel)):
        model = cls.from_pretrained(tiny_models[kind])
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() == 2 and "embeddings" not in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        model.save_pretrained(root / kind)
        AutoTokenizer.from_pretrained(tiny_models[kind]).save_pretrained(root / kind)
        out[kind] = str(root / kind)
    return out


def scorer_prompt(scorer) -> torch.Tensor:
    """The untrained prompt `ptt train` would start this backbone from (reads the partitioned embeddings)."""
    return scorer.initial_prompt("vocab", L, 42, get_task("sst2"))[0]


def artifact(directory: Path, backbone: str, family: str, task: str, seed: int, hidden: int, step: int = 10) -> Path:
    meta = {"backbone": backbone, "backbone_path": str(Path(backbone).resolve()), "family": family, "task": task,
            "step": step, "metrics": {"accuracy": 0.5 + seed / 100}, "max_length": 24, "format": "ptt-prompt-v1"}
    return save_prompt(directory, random_prompt(hidden, seed), meta)


# --- activation capture -------------------------------------------------------------------------------------

def test_t5_masks_cover_encoder_then_decoder_ffn_layers_under_zero3(tiny_models, tmp_path):
    cfg = tiny_cfg(tiny_models["t5"], tmp_path, max_eval_examples=1)
    scorer = open_scorer(cfg, cfg.prompt_length)
    try:
        assert all(hasattr(p, "ds_id") for p in scorer.model.backbone.parameters())  # ZeRO-3 partitioned
        names = [n for n, _, _ in ffn_modules(scorer.model.backbone, scorer.family)]
        assert names == ["encoder.block.0.layer.1.DenseReluDense.act", "encoder.block.1.layer.1.DenseReluDense.act",
                         "decoder.block.0.layer.2.DenseReluDense.act", "decoder.block.1.layer.2.DenseReluDense.act"]
        own = scorer_prompt(scorer)
        a, b = random_prompt(32, 1), random_prompt(32, 2)
        a_before = a.clone()
        masks = activation_masks(scorer, [a])[0]
        # nothing is left changed: the prompt passed in, the scorer's own (absent) prompt, the backbone's embeddings
        assert torch.equal(a, a_before) and scorer.model.prompt is None
        assert torch.equal(scorer_prompt(scorer), own)
        # encoder: the L prompt positions + the one token (</s>); decoder: its first step
        assert [tuple(m.shape) for m in masks] == [(L + 1, D_FF), (L + 1, D_FF), (1, D_FF), (1, D_FF)]
        assert all(m.dtype == torch.bool and 0 < int(m.sum()) < m.numel() for m in masks)
        mats = indicator_matrices(scorer, [a, b, a.clone()])
    finally:
        scorer.close()
    assert set(mats) == {"cosine_flat", "cosine_tokenwise", "euclidean_flat", "euclidean_tokenwise", "on_all",
                         "on_first_third", "on_last_third"}
    for name, m in mats.items():
        assert m[0][0] == pytest.approx(1.0) and m[0][2] == pytest.approx(1.0), name  # same prompt: 1
        assert m[0][1] == pytest.approx(m[1][0]), name
    assert mats["on_all"][0][1] < 1.0
    assert on_all(masks, masks) == 1.0


@pytest.mark.parametrize("kind,family", [("roberta", "masked_lm"), ("bert", "encoder")])
def test_bert_like_masks_match_a_hand_computed_intermediate_layer(sharp_models, tmp_path, kind, family):
    cfg = tiny_cfg(sharp_models[kind], tmp_path, max_eval_examples=1)
    scorer = open_scorer(cfg, cfg.prompt_length)
    try:
        assert scorer.family.name == family
        assert all(hasattr(p, "ds_id") for p in scorer.model.backbone.parameters())
        assert [n for n, _, _ in ffn_modules(scorer.model.backbone, scorer.family)] == \
            ["encoder.layer.0.intermediate", "encoder.layer.1.intermediate"]
        hidden = scorer.frozen.hidden
        a, b = random_prompt(hidden, 1), random_prompt(hidden, 2)
        masks = activation_masks(scorer, [a])[0]
        assert [tuple(m.shape) for m in masks] == [(1, D_FF), (1, D_FF)]
        mats = indicator_matrices(scorer, [a, b, a.clone()])
        tokenizer = scorer.tokenizer
    finally:
        scorer.close()
    assert mats["on_all"][0][2] == 1.0 and mats["on_all"][0][1] < 1.0

    # reference without hooks or DeepSpeed: layer i's FFN input is its attention output on hidden_states[i]
    model = load_frozen(sharp_models[kind], FAMILIES[family].load_class(), torch.float32)
    row = FAMILIES[family].encode(tokenizer, [""], 24)[0]
    ids = torch.tensor([row["input_ids"]])
    embeds, attn = prepend(a, model.get_input_embeddings()(ids), torch.ones_like(ids))
    pos = L + row.get("mask_pos", 0)  # masked_lm: the <mask> slot; encoder: CLS
    body = model.base_model
    with torch.no_grad():
        states = body(inputs_embeds=embeds, attention_mask=attn, output_hidden_states=True).hidden_states
        for i, layer in enumerate(body.encoder.layer):
            ref = layer.intermediate(layer.attention(states[i])[0])[0, pos]
            sure = ref.abs() > 1e-5
            assert torch.equal(masks[i][0][sure], (ref > 0)[sure]), f"layer {i}"


def test_ffn_table_covers_gated_t5_and_gpt2_and_refuses_unknown_model_types():
    from transformers import (GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM, T5Config,
                              T5ForConditionalGeneration)

    gated = T5ForConditionalGeneration(T5Config(vocab_size=64, d_model=16, d_ff=24, d_kv=8, num_layers=1,
                                                num_decoder_layers=1, num_heads=2, feed_forward_proj="gated-gelu"))
    sites = ffn_modules(gated, FAMILIES["seq2seq"])
    assert [n for n, _, _ in sites] == ["encoder.block.0.layer.1.DenseReluDense.act",
                                        "decoder.block.0.layer.2.DenseReluDense.act"]
    ffn = gated.encoder.block[0].layer[-1].DenseReluDense
    assert type(ffn).__name__ == "T5DenseGatedActDense" and sites[0][2] is ffn.act  # GELU(wi_0 x), before the gate
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=8, n_layer=1, n_head=2))
    assert [n for n, _, _ in ffn_modules(gpt2, FAMILIES["causal_lm"])] == ["h.0.mlp.act"]  # the causal_lm family's
    opt = OPTForCausalLM(OPTConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1, ffn_dim=16, num_attention_heads=2,
                                   max_position_embeddings=16, word_embed_proj_dim=8))
    for family in FAMILIES.values():  # a model type no family lists is refused, naming it
        with pytest.raises(PttError, match="opt"):
            ffn_modules(opt, family)


# --- ptt indicators end to end ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def t5_library(tiny_models, tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("library")
    paths = [artifact(root / "sst2-run" / "best", tiny_models["t5"], "seq2seq", "sst2", 1, 32),
             artifact(root / "mr-run" / "best", tiny_models["t5"], "seq2seq", "mr", 2, 32),
             artifact(root / "deeper" / "mnli-run" / "last", tiny_models["t5"], "seq2seq", "mnli", 3, 32)]
    return root, paths


def test_run_indicators_writes_matrices_and_correlations(t5_library, tmp_path):
    from ptt.commands import indicators

    _, paths = t5_library
    matrix = {"rows": ["sst2", "mr", "mnli", "random"], "tasks": ["sst2", "mr", "mnli"],
              "values": [[0.9, 0.8, 0.4], [0.85, 0.9, 0.35], [0.5, 0.55, 0.8], [0.5, 0.5, 0.5]]}
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    result = indicators.run(IndicatorsConfig(prompts=tuple(str(p) for p in paths), output_dir=str(tmp_path / "out"),
                                             transfer_matrix=str(tmp_path / "matrix.json"), precision="fp32",
                                             ds_config="zero3_bf16"))
    assert result["prompts"] == ["sst2", "mr", "mnli"]
    assert {"on_all", "cosine_flat"} <= set(result["matrices"])
    corr = result["correlation"]["on_all"]
    assert corr["pooled"]["n"] == 6 and all(corr["per_task"][t]["n"] == 2 for t in ("sst2", "mr", "mnli"))
    written = json.loads((tmp_path / "out" / "correlation.json").read_text())
    assert written["cosine_flat"]["pooled"] == result["correlation"]["cosine_flat"]["pooled"]
    assert (tmp_path / "out" / "on_all.png").is_file()


def test_indicators_refuse_prompts_of_mixed_backbones(t5_library, tiny_models, tmp_path):
    from ptt.commands import indicators

    _, paths = t5_library
    other = artifact(tmp_path / "roberta", tiny_models["roberta"], "masked_lm", "sst2", 4, 32)
    with pytest.raises(PttError) as err:
        indicators.run(IndicatorsConfig(prompts=(str(paths[0]), str(other)), output_dir=str(tmp_path / "out")))
    assert err.value.exit_code == 2 and "\n" not in err.value.format_message()
    assert "projector" in err.value.format_message()


# --- library ------------------------------------------------------------------------------------------------

def test_list_library_finds_nested_artifacts_and_show_gives_stats(t5_library, tiny_models):
    root, paths = t5_library
    rows = list_library(root)
    assert [r["path"] for r in rows] == sorted(str(p) for p in paths)
    mnli = next(r for r in rows if r["task"] == "mnli")
    assert mnli["backbone"] == tiny_models["t5"] and mnli["length"] == L and mnli["hidden"] == 32
    assert mnli["steps"] == 10 and mnli["metric"] == "accuracy" and mnli["value"] == pytest.approx(0.53)
    assert len(mnli["sha256"]) == 12
    table = render_table(rows)
    assert len(table.splitlines()) == 4 and "accuracy=0.5300" in table and "mnli" in table
    info = show(paths[2])
    tensor, _ = load_prompt(paths[2])
    assert info["task"] == "mnli" and info["stats"]["norm"] == pytest.approx(float(tensor.norm()))
    assert info["stats"]["mean"] == pytest.approx(float(tensor.mean()))
    assert info["stats"]["std"] == pytest.approx(float(tensor.std()))


def test_empty_library_is_a_one_line_error_naming_the_folder(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(PttError) as err:
        list_library(tmp_path / "empty")
    msg = err.value.format_message()
    assert err.value.exit_code == 2 and "\n" not in msg and str(tmp_path / "empty") in msg
    result = CliRunner().invoke(main, ["prompts", "list", str(tmp_path / "empty")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


# --- PEFT interchange ---------------------------------------------------------------------------------------

def captured_inputs(model) -> dict:
    """Keyword inputs of every call of `model.forward` (PEFT calls its base model with inputs_embeds)."""
    seen = {}

    def hook(_module, _args, kwargs):
        seen.update({k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)})

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_peft_loads_the_exported_t5_prompt_and_prepends_it_as_ptt_does(t5_library, tiny_models, tmp_path):
    from peft import PeftModel

    _, paths = t5_library
    prompt, meta = load_prompt(paths[0])
    out = export_peft(paths[0], tmp_path / "adapter")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "PROMPT_TUNING" and config["task_type"] == "SEQ_2_SEQ_LM"
    assert (config["num_virtual_tokens"], config["token_dim"], config["num_transformer_submodules"]) == (L, 32, 2)
    assert config["num_layers"] == 2 and config["num_attention_heads"] == 2
    assert config["base_model_name_or_path"] == str(Path(tiny_models["t5"]).resolve())

    model = load_frozen(tiny_models["t5"], FAMILIES["seq2seq"].load_class(), torch.float32)
    peft_model = PeftModel.from_pretrained(model, str(out))
    weight = peft_model.prompt_encoder["default"].embedding.weight
    assert torch.equal(weight, torch.cat([prompt, prompt]))
    assert torch.equal(peft_model.get_prompt_embedding_to_save(adapter_name="default")[:L], prompt)

    base = peft_model.get_base_model()
    seen = captured_inputs(base)
    ids = torch.tensor([[37, 9, 1], [52, 1, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    dec = torch.full((2, 1), base.config.decoder_start_token_id)
    with torch.no_grad():
        peft_logits = peft_model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        ptt_embeds, ptt_mask = prepend(prompt, base.get_input_embeddings()(ids), mask)
        assert torch.equal(seen["inputs_embeds"], ptt_embeds)
        assert torch.equal(seen["attention_mask"].long(), ptt_mask)
        ptt_logits = base(inputs_embeds=ptt_embeds, attention_mask=ptt_mask, decoder_input_ids=dec).logits
    assert torch.allclose(peft_logits, ptt_logits, atol=1e-6)

    back = import_peft(out, tmp_path / "back")  # ptt's own export comes back with its task, step and metrics
    tensor, meta_back = load_prompt(back)
    assert torch.equal(tensor, prompt)
    assert (meta_back["task"], meta_back["family"], meta_back["step"]) == ("sst2", "seq2seq", meta["step"])
    assert meta_back["metrics"] == meta["metrics"]


def test_import_of_an_adapter_peft_itself_trained(t5_library, tiny_models, tmp_path):
    from peft import PromptTuningConfig, get_peft_model

    from ptt.transfer.sources.gather import gather

    model = load_frozen(tiny_models["t5"], FAMILIES["seq2seq"].load_class(), torch.float32)
    torch.manual_seed(3)
    peft_model = get_peft_model(model, PromptTuningConfig(task_type="SEQ_2_SEQ_LM", num_virtual_tokens=L))
    peft_model.save_pretrained(tmp_path / "peft")
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))["prompt_embeddings"]
    assert saved.shape == (2 * L, 32)
    out = import_peft(tmp_path / "peft", tmp_path / "imported")
    tensor, meta = load_prompt(out)
    assert torch.equal(tensor, saved[:L])
    assert torch.equal(tensor, peft_model.prompt_encoder["default"].embedding.weight[:L].detach())
    assert meta["family"] == "seq2seq" and meta["task"] == "unknown" and meta["metrics"] == {}
    assert meta["backbone"] == tiny_models["t5"]
    _, paths = t5_library  # the imported prompt sits with ptt's own prompts of that backbone
    assert len(gather([str(paths[0]), str(out)])) == 2
    out2 = import_peft(tmp_path / "peft", tmp_path / "imported-mr", task="mr")
    assert load_prompt(out2)[1]["task"] == "mr"


@pytest.mark.parametrize("task_type", [None, "CAUSAL_LM"])
def test_roberta_export_loads_in_peft_and_prepends_as_ptt_does(tiny_models, tmp_path, task_type):
    from peft import PeftModel

    src = artifact(tmp_path / "prompt", tiny_models["roberta"], "masked_lm", "sst2", 5, 32)
    prompt, _ = load_prompt(src)
    out = export_peft(src, tmp_path / "adapter", task_type=task_type)
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["task_type"] == (task_type or "FEATURE_EXTRACTION") and config["num_transformer_submodules"] == 1

    model = load_frozen(tiny_models["roberta"], FAMILIES["masked_lm"].load_class(), torch.float32)
    if task_type == "CAUSAL_LM":  # PEFT's causal-LM wrapper reads this attribute; *ForMaskedLM has none
        model.prepare_inputs_for_generation = lambda *args, **kwargs: kwargs
    peft_model = PeftModel.from_pretrained(model, str(out))
    assert torch.equal(peft_model.prompt_encoder["default"].embedding.weight, prompt)
    base = peft_model.get_base_model()
    seen = captured_inputs(base)
    ids = torch.tensor([[0, 713, 50264, 2]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        peft_logits = peft_model(input_ids=ids, attention_mask=mask).logits
        ptt_embeds, ptt_mask = prepend(prompt, base.get_input_embeddings()(ids), mask)
        ptt_logits = base(inputs_embeds=ptt_embeds, attention_mask=ptt_mask).logits
    assert torch.equal(seen["inputs_embeds"], ptt_embeds)
    assert torch.allclose(peft_logits, ptt_logits, atol=1e-6)
    back, meta = load_prompt(import_peft(out, tmp_path / "back"))
    assert torch.equal(back, prompt) and meta["family"] == "masked_lm"


def test_import_refuses_what_is_not_a_peft_prompt_tuning_adapter(t5_library, tmp_path):
    _, paths = t5_library
    cases = {}
    cases["ptt artifact"] = paths[0]  # a folder, but no adapter_config.json
    lora = tmp_path / "lora"
    lora.mkdir()
    (lora / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    cases["lora"] = lora
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "adapter_config.json").write_text(json.dumps({"peft_type": "PROMPT_TUNING",
                                                               "num_virtual_tokens": 4, "token_dim": 32}))
    cases["no weights"] = no_weights
    for name, folder in cases.items():
        with pytest.raises(PttError) as err:
            import_peft(folder, tmp_path / "out" / name.replace(" ", "-"))
        msg = err.value.format_message()
        assert err.value.exit_code == 2 and "\n" not in msg and str(folder) in msg, name
        assert not (tmp_path / "out" / name.replace(" ", "-")).exists(), name
    result = CliRunner().invoke(main, ["prompts", "import-peft", str(lora), str(tmp_path / "cli-out")])
    assert result.exit_code == 2 and "LORA" in result.output and len(result.output.strip().splitlines()) == 1
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
