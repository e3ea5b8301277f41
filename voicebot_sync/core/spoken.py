"""How long a message takes to say: words, a speaking rate per language, seconds.

An estimate, not a measurement of a voice: the words of the message divided by a
rate in words per minute. The rate is ``DEFAULT_WORDS_PER_MINUTE`` (150, an unhurried
reading pace for a phone call) unless ``words_per_minute`` in voicebot-sync.yaml says
otherwise, for every language or per language (a definition's ``x-language`` label:
``yo``, ``ha``, ``en-NG``; a tag like ``yo-NG`` falls back to ``yo``).

What counts as a word: each run of text between spaces that holds a letter or a digit
(punctuation alone is silent); a number is read in pairs of digits (``2026`` is "twenty
twenty-six", two words; a phone number ``0803 123 4567`` six). A placeholder counts as
its ``example``, or one word without one. The worst case fills every placeholder to its
``max_length`` with ordinary words, one per ``CHARS_PER_WORD`` characters (rounded up);
it exists only when every placeholder has a ``max_length``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .template import PLACEHOLDER

DEFAULT_WORDS_PER_MINUTE = 150
MIN_WORDS_PER_MINUTE, MAX_WORDS_PER_MINUTE = 40, 400
CHARS_PER_WORD = 6  # five letters and a space: the average word of ordinary text
LANGUAGE_LABEL = "x-language"


@dataclass(frozen=True)
class Speech:
    """Speaking rates: one for every language, and any per language (lower-case language tags)."""

    default: float = DEFAULT_WORDS_PER_MINUTE
    languages: tuple[tuple[str, float], ...] = ()

    def rate(self, language: Any = None) -> float:
        """Words per minute for a language tag: the exact tag, then its first part (yo-NG -> yo), then the default."""
        if isinstance(language, str) and language.strip():
            rates = dict(self.languages)
            tag = language.strip().lower().replace("_", "-")
            for candidate in (tag, tag.split("-")[0]):
                if candidate in rates:
                    return rates[candidate]
        return self.default


def parse_speech(value: Any, base: Speech | None = None) -> Speech:
    """``words_per_minute`` from the config file: a number, or ``{default: 150, yo: 130}``; over ``base``.

    Raises ValueError with a sentence; the config's schema has checked the types already."""
    base = base or Speech()
    if value is None:
        return base
    if not isinstance(value, Mapping):
        return Speech(_rate(value, "words_per_minute"), base.languages)
    default = base.default
    languages = dict(base.languages)
    for key, rate in value.items():
        if str(key).lower() == "default":
            default = _rate(rate, "words_per_minute.default")
        else:
            languages[str(key).strip().lower().replace("_", "-")] = _rate(rate, f"words_per_minute.{key}")
    return Speech(default, tuple(sorted(languages.items())))


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not MIN_WORDS_PER_MINUTE <= value <= MAX_WORDS_PER_MINUTE:
        raise ValueError(f"{where} must be a number of words per minute from {MIN_WORDS_PER_MINUTE} "
                         f"to {MAX_WORDS_PER_MINUTE}")
    return float(value)


_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")


def count_words(text: str) -> int:
    """Spoken words in a text (see the module's docstring): a word with a letter is one, and the
    digits of any word are said in pairs ("9am" two words, "2026" two, "0803 123 4567" six).
    Linear in the text: one pass to split, and per word a search the regex engine runs in C."""
    words = 0
    letter, digits_of = _LETTER.search, _DIGIT.findall
    for token in text.split():
        digits = len(digits_of(token))
        if letter(token):
            words += 1 + (digits + 1) // 2 if digits else 1
        elif digits:
            words += (digits + 1) // 2
    return words


@dataclass(frozen=True)
class Estimate:
    """Seconds to say a message: with its examples, and at worst (None when a placeholder is unbounded)."""

    seconds: float
    worst: float | None
    rate: float
    missing: tuple[str, ...] = ()  # placeholders without an example (counted as one word)

    @property
    def after_seconds(self) -> float:
        """The number the plan carries (``after_spoken_seconds``): the worst case when there is one."""
        return self.worst if self.worst is not None else self.seconds


def estimate(message: str, parameters: Mapping[str, Any] | None = None, language: Any = None,
             speech: Speech | None = None) -> Estimate:
    """How long ``message`` (a template) takes to say, filled with its examples and at worst."""
    speech = speech or Speech()
    rate = speech.rate(language)
    fixed = count_words(PLACEHOLDER.sub(" ", message))
    typical = worst = fixed
    bounded = True
    missing = []
    for name in PLACEHOLDER.findall(message):  # every occurrence is said
        spec = (parameters or {}).get(name)
        spec = spec if isinstance(spec, dict) else {}  # as YAML builds it (and far cheaper than typing's Mapping)
        example, limit = spec.get("example"), spec.get("max_length")
        if example is not None:
            typical += count_words(str(example))
        else:
            typical += 1
            missing.append(name)
        if isinstance(limit, int) and not isinstance(limit, bool):
            worst += max(1, -(-limit // CHARS_PER_WORD))
        else:
            bounded = False
    return Estimate(_seconds(typical, rate), _seconds(worst, rate) if bounded else None, rate,
                    tuple(dict.fromkeys(missing)))


def for_definition(definition: Any, speech: Speech | None = None) -> Estimate | None:
    """The estimate for a definition's message as it would be sent (None without a text message)."""
    message = definition.desired().get("message")
    if not isinstance(message, str):
        return None
    return estimate(message, definition.parameters, definition.fields.get(LANGUAGE_LABEL), speech)


def seconds_for_text(text: str, language: Any = None, speech: Speech | None = None) -> float:
    """Seconds to say a filled-in text (``render --set``)."""
    return _seconds(count_words(text), (speech or Speech()).rate(language))


def _seconds(words: int, rate: float) -> float:
    return round(words * 60.0 / rate, 1)


def phrase(seconds: float) -> str:
    """``12 s`` or ``1 min 5 s``: the way a person says a short duration."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s".replace(".0 s", " s")
    return f"{whole // 60} min {whole % 60} s" if whole % 60 else f"{whole // 60} min"


def describe(est: Estimate) -> str:
    """One phrase for a plan or ``render``: the usual length, the worst case, and the rate used."""
    text = f"about {phrase(est.seconds)} to say"
    if est.worst is not None and est.worst != est.seconds:
        text += f" (at most {phrase(est.worst)} with every placeholder at its max_length)"
    return text + f", at {est.rate:g} words a minute"
