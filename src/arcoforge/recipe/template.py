"""URL templates such as ``https://host/{variable}/sst.{time:%Y%m%d}.nc``.

Templates come from untrusted recipes, so only plain ``{name}`` and
``{name:spec}`` fields are allowed: no attribute or item access, no
conversions and no nested fields (``str.format`` would otherwise reach into
Python objects).
"""

from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass

from arcoforge.errors import RecipeError

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The width and precision of a ``format()`` spec such as ``>08.2f``.
_WIDTHS = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d+))?")
#: The widest a field may be padded to: a template must not make huge URLs.
MAX_WIDTH = 64


@dataclass(frozen=True, slots=True)
class _Field:
    literal: str
    name: str | None
    spec: str


@dataclass(frozen=True, slots=True)
class UrlTemplate:
    """A parsed URL template; calling it with the dims' keys gives a URL."""

    template: str
    fields: tuple[_Field, ...]

    @classmethod
    def parse(cls, template: str, *, where: str = "url") -> UrlTemplate:
        """Parse ``template``, refusing anything but plain named fields."""
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as e:
            raise RecipeError(
                f"{where}: expected a template with fields like {{time:%Y%m%d}}. "
                f"Got {template!r} instead ({e}). Write a literal brace as {{{{ or }}}}."
            ) from None
        fields = []
        for literal, name, spec, conversion in parsed:
            if name is not None:
                if not _FIELD.match(name):
                    raise RecipeError(
                        f"{where}: template field {{{name}}} is not a plain name; fields "
                        "may only name a dimension, like {time} or {variable}."
                    )
                if conversion is not None:
                    raise RecipeError(
                        f"{where}: template field {{{name}!{conversion}}} uses a conversion; "
                        f"write {{{name}}} or {{{name}:format}} instead."
                    )
                if "{" in (spec or "") or "}" in (spec or ""):
                    raise RecipeError(
                        f"{where}: template field {{{name}:{spec}}} nests another field; "
                        "formats must be literal, like %Y%m%d or 03d."
                    )
            fields.append(_Field(literal, name, spec or ""))
        return cls(template, tuple(fields))

    @property
    def names(self) -> frozenset[str]:
        """The dimension names the template uses."""
        return frozenset(f.name for f in self.fields if f.name is not None)

    def __call__(self, **keys: object) -> str:
        out = []
        for f in self.fields:
            out.append(f.literal)
            if f.name is not None:
                out.append(format_key(keys[f.name], f.spec, f.name))
        return "".join(out)


def format_key(value: object, spec: str, name: str) -> str:
    """Format one key: strftime for dates, ``format()`` for everything else."""
    if isinstance(value, dt.date):
        if spec:
            return value.strftime(spec)
        if isinstance(value, dt.datetime) and value.time() != dt.time(0):
            return value.isoformat()
        return value.strftime("%Y-%m-%d")
    widths = _WIDTHS.match(spec)
    if widths and any(w and int(w) > MAX_WIDTH for w in widths.groups()):
        raise RecipeError(
            f"url: {{{name}:{spec}}} pads or rounds to more than {MAX_WIDTH} characters; "
            f"expected a width and precision of at most {MAX_WIDTH}."
        )
    try:
        return format(value, spec)
    except (ValueError, TypeError) as e:
        raise RecipeError(
            f"url: cannot format {name}={value!r} with {{{name}:{spec}}}: {e}."
        ) from None
