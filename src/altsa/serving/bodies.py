"""JSON request bodies parsed within the service's limits.

Pydantic validates what a client sends, but a body can cost far more to validate than its
size suggests: a million bad list items, or a million unknown keys, make a million error
records (gigabytes, seconds of the event loop every client shares). So before pydantic sees
a body it is bounded step by step, each step cheap:

1. its size against what ``max_utterances`` turns of ``max_text_chars`` can take (413);
2. its JSON values (structural characters ``{ [ , :``, counted on the bytes, strings
   included, so the bound is generous) against what such turns can hold (413);
3. parsed (strict UTF-8; 400 ``malformed_json`` on any error, a lone surrogate included);
4. a conversation's utterances counted (413 ``too_many_utterances``);
5. each object cut to its known keys plus the first unknown one (pydantic still names it),
   so validation meets at most a few keys per turn.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from altsa.data.readers.jsonl import duplicate_keys, duplicates_message, loads
from altsa.serving.config import ServeSettings
from altsa.serving.errors import ApiError
from altsa.serving.schemas import PATH_KEYS, ConversationIn, UtteranceIn

NESTED: dict[type[BaseModel], dict[str, type[BaseModel]]] = {ConversationIn: {"utterances": UtteranceIn}}
_VALUES = (b"{", b"[", b",", b":")


def validate(model: type[BaseModel], data: Any, *, loc: str | None = None) -> Any:
    """``model`` from parsed JSON (or form fields); pydantic's errors (under ``loc``) as a 4xx."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        if loc is not None:
            errors = [{**e, "loc": (loc, *e["loc"])} for e in errors]
        raise RequestValidationError(errors) from None


def parse_json(model: type[BaseModel], data: str | bytes, settings: ServeSettings, *, utterances: int,
               loc: str | None = None) -> Any:
    """``model`` (``ConversationIn`` or ``UtteranceIn``) from a JSON body that may hold up to
    ``utterances`` turns, checked in the order of the module docstring."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    limit = settings.max_json_bytes(utterances)
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"a JSON body of {len(raw)} bytes is over the {limit} bytes that "
                       f"{utterances} utterance(s) of at most max_text_chars {settings.max_text_chars} need")
    values = sum(raw.count(c) for c in _VALUES)
    budget = utterances * (settings.max_text_chars + 216) + 64  # every character of text a comma, and some
    if values > budget:
        raise ApiError(413, "too_large", f"a JSON body with {values} values or more is over the {budget} that "
                       f"{utterances} utterance(s) of at most max_text_chars {settings.max_text_chars} can hold")
    try:
        parsed = loads(raw.decode("utf-8"))  # marks objects that name a key twice
        if model is ConversationIn and isinstance(parsed, dict) and isinstance(parsed.get("utterances"), list):
            n = len(parsed["utterances"])
            if n > settings.max_utterances:
                raise ApiError(413, "too_many_utterances", f"{n} utterances, over max_utterances {settings.max_utterances}")
        pruned = _prune(parsed, model)
        json.dumps(pruned, ensure_ascii=False).encode("utf-8")  # a lone surrogate ("\ud800") cannot be text
    except (ValueError, RecursionError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        where = f"form field {loc!r} " if loc else "request body "
        raise ApiError(400, "malformed_json", f"{where}is not valid JSON ({first})") from None
    twice = duplicate_keys(parsed)
    if twice:  # json keeps the last value; which one the client meant is open (the readers report it too)
        where = f"form field {loc!r}" if loc else "request body"
        raise ApiError(422, "duplicate_key", f"{where}: {duplicates_message(twice[:3])}")
    return validate(model, pruned, loc=loc)


def _prune(obj: Any, model: type[BaseModel]) -> Any:
    """``obj`` with the keys ``model`` knows (nested models pruned too), path-like keys (they
    have an error of their own) and the first unknown key: enough for the same first error."""
    if not isinstance(obj, dict):
        return obj
    known = model.model_fields
    unknown = next((k for k in obj if k not in known and k not in PATH_KEYS), None)
    kept = {k: v for k, v in obj.items() if k in known or k in PATH_KEYS or k == unknown}
    for name, inner in NESTED.get(model, {}).items():
        if isinstance(kept.get(name), list):
            kept[name] = [_prune(item, inner) for item in kept[name]]
    return kept
