"""The text encoder: the teacher of ALTSA (spec: ALTSA.md, section 1, "Encoders").

Two input modes (``EncoderConfig.text_mode``):

- ``context`` (the spec's teacher input): for utterance i, the speaker-tagged conversation so
  far, ending with a prompt naming the current speaker::

      <s1> I was the point person. <s2> Oh really? <s1> Yeah. Now <s1> feels

  The tokenizer keeps the END when the input is too long (truncation on the left), so the
  most recent turns and the prompt always survive. The utterance vector is the hidden state
  at the prompt's last token (pooling ``prompt``), or ``mean`` / ``cls``.
- ``plain``: the utterance text alone, mean pooling by default (how sentence-transformers
  models such as the embedded MiniLM are trained).

Speakers are tagged by order of first appearance (``Utterance.speaker_tag``) and rendered per
``options.speaker_format``: ``token`` (``<s1>`` .. ``<sK>``, added to the tokenizer as special
tokens, the embedding matrix resized), ``plain`` (``Speaker 1``) or ``name`` (the speaker's
name). With ``num_speakers`` K (default 9), speakers after the K-th share the token ``<sK>``.
New speaker-token embeddings start as the mean embedding of the words ``speaker k``: a
deterministic start (the cache fingerprint stays valid) that fine-tuning then refines.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from altsa.data.schema import Conversation, Utterance, is_blank
from altsa.encoders.base import ENCODERS, EncoderConfig
from altsa.encoders.hf import (
    LazyModule,
    check_options,
    directory_hash,
    hidden_size,
    layer_stack,
    length_order,
    load_pretrained,
    make_fingerprint,
    model_identity,
    quiet_transformers,
    resolve_model_path,
)
from altsa.errors import ConfigError

log = logging.getLogger(__name__)

TEXT_MODES = ("context", "plain")
TEXT_POOLINGS = ("prompt", "mean", "cls")
SPEAKER_FORMATS = ("token", "plain", "name")

# ``EncoderConfig.options`` understood by "hf-text", with their defaults.
TEXT_OPTIONS: dict[str, Any] = {
    "speaker_format": "token",  # token (<s1>) | plain (Speaker 1) | name (the speaker's name)
    "num_speakers": 9,  # K speaker tokens; later speakers share <sK> (MELD has at most 9)
    "prompt": "Now {speaker} feels",  # ends every context input; its last token is pooled
    "turn_template": None,  # one turn; None: "{speaker} {text}" (token), "{speaker}: {text}"
    "max_chars": None,  # cut the context to its last N characters before tokenizing
    "normalize": False,  # L2-normalise vectors (sentence-transformers' Normalize module)
    "padding_side": "right",  # right | left; pooling is correct for both
    # Hidden states pooled (then averaged): None = the last; an index or a list (0 = the
    # embeddings, k = after block k, negative counts from the end). Blocks above the deepest
    # one are dropped at load, so a shallow choice is also faster. Why: a sentence encoder's
    # last layer is tuned for semantic similarity; middle layers keep more of the wording that
    # carries emotion (measured on MELD dev: docs/encoders.md).
    "layers": None,
    # Training the top ``unfreeze_last`` blocks (``freeze: true``): ``cache_lower`` computes the
    # frozen blocks below them once and trains over their cached states
    # (``altsa.encoders.topblocks``); ``lora`` ({r, alpha, dropout}) trains PEFT LoRA adapters
    # inside those blocks instead of the blocks whole, so a run ships a few MB, not the encoder.
    # ``cache_lower: bfloat16`` computes the cached states under bfloat16 autocast (3.6x less CPU).
    "cache_lower": False,
    "lora": None,
    # A PEFT LoRA adapter folder (a run's ``text-adapter/``) merged into the weights at load:
    # the base model stays the package's, the run ships only the adapter.
    "adapter": None,
}


def speaker_label(utterance: Utterance, speaker_format: str, num_speakers: int) -> str:
    """How one speaker is written in the text input."""
    tag = utterance.speaker_tag or "s1"
    number = int(tag[1:]) if tag[1:].isdigit() else 1
    if speaker_format == "token":
        return f"<s{min(number, num_speakers)}>"
    if speaker_format == "name" and utterance.speaker.strip():
        return utterance.speaker.strip()
    return f"Speaker {number}"


def text_inputs(
    conversation: Conversation,
    *,
    mode: str = "context",
    speaker_format: str = "token",
    num_speakers: int = 9,
    prompt: str = TEXT_OPTIONS["prompt"],
    turn_template: str | None = None,
    max_chars: int | None = None,
) -> list[str]:
    """The text input of every utterance of ``conversation``, in order.

    ``context``: turns 1..i rendered with ``turn_template`` and joined by spaces, then the
    prompt naming speaker i; ``max_chars`` keeps only the last characters (the tokenizer
    truncates again to the model's length, also keeping the end). ``plain``: the text alone.
    """
    if mode not in TEXT_MODES:
        raise ConfigError(f"text mode {mode!r}: choose one of {', '.join(TEXT_MODES)}")
    if mode == "plain":
        return [u.text for u in conversation]
    if speaker_format not in SPEAKER_FORMATS:
        raise ConfigError(f"speaker_format {speaker_format!r}: choose one of {', '.join(SPEAKER_FORMATS)}")
    template = turn_template or ("{speaker} {text}" if speaker_format == "token" else "{speaker}: {text}")
    out: list[str] = []
    turns: list[str] = []
    for u in conversation:
        who = speaker_label(u, speaker_format, num_speakers)
        if not is_blank(u.text):  # a turn without transcript (audio/video only) adds no words to the context
            turns.append(template.format(speaker=who, text=u.text.strip()))
        text = " ".join(turns) + " " + prompt.format(speaker=who)
        if max_chars is not None and len(text) > max_chars:
            text = text[-max_chars:]
        out.append(text)
    return out


def pool_text(hidden: torch.Tensor, mask: torch.Tensor, pooling: str, suffix: int) -> torch.Tensor:
    """Utterance vectors from token states; correct for left and right padding.

    ``prompt``: the last attended position minus the ``suffix`` special tokens the tokenizer
    appends (``</s>``, ``[SEP]``), i.e. the prompt's last token. ``cls``: the first attended
    position. ``mean``: the mean over attended positions.
    """
    mask = mask.to(hidden.device)
    if pooling == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)  # [n, L, 1]
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)  # [n, d]
    positions = torch.arange(mask.shape[1], device=hidden.device).expand_as(mask)  # [n, L]
    if pooling == "cls":
        index = torch.where(mask.bool(), positions, mask.shape[1]).min(1).values  # [n]
    else:
        last = torch.where(mask.bool(), positions, -1).max(1).values  # [n]
        index = (last - suffix).clamp(min=0)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]  # [n, d]


# Model types that number positions from ``pad_token_id + 1`` (RoBERTa's scheme), not from 0.
_POSITIONS_AFTER_PAD = ("roberta", "xlm-roberta", "camembert")
# Absolute-position encoders ``forward_packed`` serves (their position ids can restart per text).
_PACKABLE = ("bert", *_POSITIONS_AFTER_PAD)


def _resolve_layers(layers: Any, blocks: int) -> list[int] | None:
    """``options.layers`` -> sorted non-negative hidden-state indices (None: the last layer)."""
    if layers is None:
        return None
    wanted = [layers] if isinstance(layers, int) else layers
    if not isinstance(wanted, list) or not wanted or not all(isinstance(k, int) and not isinstance(k, bool) for k in wanted):
        raise ConfigError(f"hf-text option layers must be an integer or a non-empty list of integers, not {layers!r}")
    if not blocks:
        raise ConfigError("hf-text option layers: the model config does not say how many layers it has")
    bad = [k for k in wanted if not -(blocks + 1) <= k <= blocks]
    if bad:
        raise ConfigError(f"hf-text option layers {bad}: the model has hidden states 0..{blocks} (or -{blocks + 1}..-1)")
    resolved = sorted({k % (blocks + 1) for k in wanted})
    return None if resolved == [blocks] else resolved


def drop_blocks_above(model: torch.nn.Module, deepest: int) -> None:
    """Keep transformer blocks 1..``deepest`` (hidden state ``deepest`` is then the last one)."""
    stack = layer_stack(model)
    if stack is None:
        raise ConfigError(f"hf-text option layers: cannot find the layer stack of {type(model).__name__}")
    if deepest < len(stack):
        del stack[deepest:]
        if hasattr(model.config, "num_hidden_layers"):
            model.config.num_hidden_layers = deepest


def merge_adapter(model: torch.nn.Module, adapter: str | Path) -> None:
    """Merge a saved PEFT LoRA adapter into ``model``'s weights, in place (no run-time cost)."""
    folder = Path(adapter)
    if not (folder / "adapter_config.json").is_file():
        raise ConfigError(f"hf-text option adapter: {folder} holds no adapter_config.json (a PEFT adapter folder)")
    try:
        from peft import PeftModel
    except ImportError:
        raise ConfigError("a LoRA text adapter needs PEFT: pip install 'altsa[accurate]'") from None
    with quiet_transformers():
        PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def _suffix_length(tokenizer: Any) -> int:
    """How many special tokens the tokenizer appends after the text (1 for BERT/RoBERTa)."""
    probe = "hello"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return len(full) - start - len(plain)
    return 0


@ENCODERS.register("hf-text")
class HFTextEncoder(LazyModule):
    """Any Hugging Face text encoder (``AutoModel`` + ``AutoTokenizer``), frozen or trainable.

    Feature extraction: ``encode(texts) -> [n, dim]`` (inference mode when ``grad=False``).
    End-to-end fine-tuning (the teacher stage): ``encode(texts, grad=True)``, or
    ``forward(tokenize(texts))``; ``module`` is the ``nn.Module`` whose parameters train
    (``freeze`` / ``unfreeze_last`` set which), ``save_pretrained(dir)`` writes a directory
    this encoder loads again (speaker tokens included).
    """

    modality = "text"

    def __init__(self, cfg: EncoderConfig, device: str | torch.device = "cpu"):
        from transformers import AutoConfig, AutoTokenizer

        self.cfg = cfg
        self.options = check_options(cfg.options, TEXT_OPTIONS, "hf-text")
        if cfg.text_mode not in TEXT_MODES:
            raise ConfigError(f"text_mode {cfg.text_mode!r}: choose one of {', '.join(TEXT_MODES)}")
        self.mode = cfg.text_mode
        self.pooling = ("prompt" if self.mode == "context" else "mean") if cfg.pooling == "default" else cfg.pooling
        if self.pooling not in TEXT_POOLINGS:
            raise ConfigError(f"hf-text pooling {cfg.pooling!r}: choose one of default, {', '.join(TEXT_POOLINGS)}")
        if self.options["speaker_format"] not in SPEAKER_FORMATS:
            fmt = self.options["speaker_format"]
            raise ConfigError(f"speaker_format {fmt!r}: choose one of {', '.join(SPEAKER_FORMATS)}")
        if int(self.options["num_speakers"]) < 1:
            raise ConfigError("num_speakers must be >= 1")
        if self.options["padding_side"] not in ("left", "right"):
            raise ConfigError("padding_side must be left or right")
        self.device = torch.device(device)
        self.hf_config = load_pretrained(AutoConfig, cfg.model, cfg.revision, "config")
        self.layers = _resolve_layers(self.options["layers"], int(getattr(self.hf_config, "num_hidden_layers", 0) or 0))
        self.tokenizer = load_pretrained(AutoTokenizer, cfg.model, cfg.revision, "tokenizer")
        self.tokenizer.truncation_side = "left"  # keep the END: the latest turns and the prompt
        self.tokenizer.padding_side = self.options["padding_side"]
        self.speaker_tokens: list[str] = []
        if self.mode == "context" and self.options["speaker_format"] == "token":
            self.speaker_tokens = [f"<s{k}>" for k in range(1, int(self.options["num_speakers"]) + 1)]
            missing = [t for t in self.speaker_tokens if t not in self.tokenizer.get_vocab()]
            if missing:
                from tokenizers import AddedToken

                # lstrip: the token absorbs the space before it (no stray "Ġ" token in BPE vocabularies)
                added = [AddedToken(t, lstrip=True, rstrip=False, normalized=False, special=True) for t in missing]
                self.tokenizer.add_special_tokens(
                    {"additional_special_tokens": added}, replace_extra_special_tokens=False
                )
        self.max_length = self._effective_max_length(cfg.max_length)
        self._suffix = _suffix_length(self.tokenizer)
        self.dim = hidden_size(self.hf_config, cfg.model, "hf-text")
        self.fingerprint = make_fingerprint(
            "hf-text",
            "text",
            model_identity(cfg.model, cfg.revision),
            {"pooling": self.pooling, "max_length": self.max_length, "speaker_init": "words", **self.input_spec,
             "normalize": bool(self.options["normalize"]),
             **({"layers": self.layers} if self.layers is not None else {}),
             **({"adapter": directory_hash(self.options["adapter"])} if self.options["adapter"] else {})},
        )
        self.frozen = cfg.freeze and cfg.unfreeze_last == 0

    # -- inputs -------------------------------------------------------------------------
    @property
    def input_spec(self) -> dict[str, Any]:
        """The keyword arguments of ``text_inputs`` this encoder reads its inputs with."""
        o = self.options
        spec: dict[str, Any] = {"mode": self.mode}
        if self.mode == "context":
            spec.update(speaker_format=o["speaker_format"], num_speakers=int(o["num_speakers"]), prompt=o["prompt"],
                        turn_template=o["turn_template"], max_chars=o["max_chars"])
        return spec

    def build_inputs(self, conversation: Conversation) -> list[str]:
        return text_inputs(conversation, **self.input_spec)

    def _effective_max_length(self, wanted: int) -> int:
        limit = int(getattr(self.tokenizer, "model_max_length", 0) or 0)
        if not 0 < limit < 100_000:
            positions = int(getattr(self.hf_config, "max_position_embeddings", 0) or 0)
            reserved = 0
            if self.hf_config.model_type in _POSITIONS_AFTER_PAD:
                reserved = int(self.hf_config.pad_token_id) + 1
            limit = positions - reserved
        if wanted < 4:
            raise ConfigError(f"max_length {wanted} is too small")
        return min(wanted, limit) if limit > 0 else wanted

    # -- model --------------------------------------------------------------------------
    def _prepare(self, model: torch.nn.Module) -> None:
        self._add_speaker_embeddings(model)
        if self.options["adapter"]:
            merge_adapter(model, self.options["adapter"])
        if self.layers is not None:
            drop_blocks_above(model, max(self.layers))

    def _add_speaker_embeddings(self, model: torch.nn.Module) -> None:
        old = model.get_input_embeddings().weight.shape[0]
        if len(self.tokenizer) <= old:
            return
        with quiet_transformers():
            model.resize_token_embeddings(len(self.tokenizer), mean_resizing=False)
        table = model.get_input_embeddings().weight
        with torch.no_grad():
            for token in self.speaker_tokens:
                tid = self.tokenizer.convert_tokens_to_ids(token)
                if tid < old:
                    continue
                words = self.tokenizer(f"speaker {token[2:-1]}", add_special_tokens=False)["input_ids"]
                table[tid] = table[torch.tensor(words)].mean(0)

    def tokenize(self, texts: list[str]) -> Any:
        """Padded, truncated (keeping the end) ``BatchEncoding`` on the encoder's device."""
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        self._warn_truncated(list(texts), batch)
        return batch.to(self.device)

    def _warn_truncated(self, texts: list[str], batch: Any) -> None:
        """Say on stderr (logging) how much of over-long inputs was kept: nothing is cut
        silently. One line per batch, and never the text itself (a service's log must not
        hold what people said). In context mode with speaker tokens, dropping earlier turns is
        the design (the end is kept); only a current turn that does not fit itself is reported."""
        mask = batch["attention_mask"]
        content = self.max_length - self.tokenizer.num_special_tokens_to_add()
        cut: list[tuple[int, str]] = []  # (tokens, where the kept part starts) per over-long input
        for i in (mask.sum(1) >= self.max_length).nonzero().flatten().tolist():  # rows that hit the limit
            if self.speaker_tokens:
                ids = batch["input_ids"][i][mask[i].bool()]
                speakers = torch.isin(ids, torch.tensor(self.tokenizer.convert_tokens_to_ids(self.speaker_tokens)))
                if int(speakers.sum()) >= 1 + self.options["prompt"].count("{speaker}"):
                    continue  # the current turn's speaker token (and all after it) survived
            full = self.tokenizer(texts[i], add_special_tokens=False, verbose=False,
                                  return_offsets_mapping=bool(getattr(self.tokenizer, "is_fast", False)))  # fmt: skip
            total = len(full["input_ids"])
            if total <= content:
                continue
            where = ""
            if "offset_mapping" in full:
                kept_chars = len(texts[i]) - full["offset_mapping"][total - content][0]
                where = f", the last {kept_chars:,} of its {len(texts[i]):,} characters"
            cut.append((total, where))
        if cut:
            total, where = max(cut)
            log.warning(
                "text encoder: %d input(s) longer than the %d tokens that max_length %d leaves beside the special "
                "tokens: kept the last %d tokens of each (the longest: %s tokens, %.2g%% kept%s)", len(cut), content,
                self.max_length, content, f"{total:,}", 100 * content / total, where,
            )  # fmt: skip

    def forward(self, batch: Any) -> torch.Tensor:
        """Tokenized batch -> ``[n, dim]``; runs with gradients when the caller allows them."""
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        return self._pool(self._hidden(inputs), batch["attention_mask"])

    @property
    def packable(self) -> bool:
        """Whether ``forward_packed`` applies: an absolute-position encoder (its position ids
        can restart per text) whose attention takes a 4-D mask (eager or SDPA; loads the module)."""
        return (
            self.hf_config.model_type in _PACKABLE
            and getattr(self.module.config, "_attn_implementation", None) in ("eager", "sdpa")
        )

    def forward_packed(self, batch: Any) -> torch.Tensor:
        """Tokenized texts -> ``[n, dim]`` in ONE pass over ONE row holding every text's tokens
        back to back, without padding: a block-diagonal mask keeps each text's attention to
        itself and position ids restart per text, so each vector equals encoding that text
        alone (up to float rounding). Why: on a CPU a forward pass costs a fixed part
        (streaming the weights) plus a part per token; a padded batch of short and long texts
        pays for padding, separate calls pay the fixed part again. Packing pays neither
        (the server's micro-batches of live turns). The attention grows with the square of
        the packed length: callers pack a few hundred tokens at most."""
        mask = batch["attention_mask"].bool()  # [n, L], left or right padded
        n, width = mask.shape
        real = mask.reshape(-1)
        start = int(self.hf_config.pad_token_id) + 1 if self.hf_config.model_type in _POSITIONS_AFTER_PAD else 0
        positions = (mask.long().cumsum(1) - 1 + start).reshape(-1)[real]  # [T], restarting per text
        segment = torch.arange(n, device=mask.device).repeat_interleave(mask.sum(1))  # [T]
        dtype = next(self.module.parameters()).dtype
        blocked = torch.zeros(len(segment), len(segment), dtype=dtype, device=mask.device)
        blocked.masked_fill_(segment[:, None] != segment[None, :], torch.finfo(dtype).min)  # additive: eager and SDPA
        inputs = {"input_ids": batch["input_ids"].reshape(-1)[real][None], "position_ids": positions[None],
                  "attention_mask": blocked[None, None]}  # fmt: skip
        if "token_type_ids" in batch:
            inputs["token_type_ids"] = batch["token_type_ids"].reshape(-1)[real][None]
        packed = self._hidden(inputs)[0]  # [T, d]
        hidden = packed.new_zeros(n * width, packed.shape[-1])
        hidden[real] = packed
        return self._pool(hidden.view(n, width, -1), batch["attention_mask"])

    def _hidden(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Token states the vectors pool: the last layer, or the mean of ``layers``."""
        model = self.module
        if self.layers is None:
            return model(**inputs).last_hidden_state  # [n, L, d]
        states = model(**inputs, output_hidden_states=True).hidden_states  # blocks + 1, each [n, L, d]
        return torch.stack([states[k] for k in self.layers]).mean(0)

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        vectors = pool_text(hidden, mask, self.pooling, self._suffix)  # [n, d]
        if self.options["normalize"]:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors

    def encode(self, items: list[str], *, grad: bool = False) -> torch.Tensor:
        """Texts -> ``[n, dim]`` float32, on the CPU unless ``grad=True`` (then on the device,
        differentiable, one batch: the caller batches)."""
        if grad:
            if self.frozen:
                raise ConfigError("encode(grad=True) on a frozen text encoder: set freeze=false or unfreeze_last")
            return self.forward(self.tokenize(items))
        unique = list(dict.fromkeys(items))  # MELD repeats ~11% of its utterances ("Okay.")
        if len(unique) < len(items):
            where = {t: i for i, t in enumerate(unique)}
            return self.encode(unique)[torch.tensor([where[t] for t in items])]
        out = torch.zeros(len(items), self.dim)
        if not items:
            return out
        order = length_order([len(t) for t in items])  # similar lengths share a batch: less padding
        model = self.module
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), self.cfg.batch_size):
                    idx = order[start : start + self.cfg.batch_size]
                    vectors = self.forward(self.tokenize([items[i] for i in idx]))
                    out[torch.tensor(idx)] = vectors.float().cpu()
        finally:
            model.train(was_training)
        return out

    def save_pretrained(self, path: str | Path) -> None:
        """Write model + tokenizer (with speaker tokens); load it back with ``model: path``."""
        with quiet_transformers():
            self.module.save_pretrained(path)
            self.tokenizer.save_pretrained(path)

    def __repr__(self) -> str:
        model = resolve_model_path(self.cfg.model)
        return f"HFTextEncoder({model!r}, mode={self.mode}, pooling={self.pooling}, dim={self.dim})"
