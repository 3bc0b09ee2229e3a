"""What a run of an example produced, and what is committed of it, as types.

A [`Result`][snippets.pipeline.results.Result] is one run: its text, its figures (each carrying
its own SVG for the light and the dark scheme), its error, time and kernel set. A
[`Record`][snippets.pipeline.results.Record] is what `make regen` commits of a result: the text
and each figure's file, alt text and plotted data ([`RecordedFigure`][snippets.pipeline.results.RecordedFigure]).
JSON stays at the edges: the worker's pipe ([`Result.from_worker`][snippets.pipeline.results.Result.from_worker]),
the cache file and the records file (``to_json``/``from_json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .examples import Example


def figure_file(example: Example, index: int) -> str:
    """The file name of an example's figure, the same in records and in the site.

    Examples:
        >>> figure_file(Example("autograd_basics", "chain_rule", 1), 0)
        'chain_rule-1.svg'
    """
    return f"{example.name}-{index + 1}.svg"


def dark_figure_file(file: str) -> str:
    """The file of a figure's drawing for the dark scheme, beside the light one (same data).

    Examples:
        >>> dark_figure_file("chain_rule-1.svg")
        'chain_rule-1-dark.svg'
    """
    return file[:-len(".svg")] + "-dark.svg"


@dataclass(frozen=True)
class RecordedFigure:
    """What is committed of a figure: its file name, its alt text and the values it plots."""

    file: str
    alt: str
    data: dict

    @property
    def dark_file(self) -> str:
        return dark_figure_file(self.file)


@dataclass(frozen=True)
class Figure(RecordedFigure):
    """One figure an example drew, carrying its drawings for the light and the dark scheme.

    Examples:
        >>> Figure("chain_rule-1.svg", "", {}, "<svg/>", "<svg/>").dark_file
        'chain_rule-1-dark.svg'
    """

    svg: str = ""
    dark_svg: str = ""

    def recorded(self, floor: float = 0.0) -> RecordedFigure:
        """What the record keeps of it: plotted values below ``floor`` in magnitude become the floor."""
        return RecordedFigure(self.file, self.alt, _floored(self.data, floor))


@dataclass(frozen=True)
class Result:
    """What one run of an example produced: ``error`` is ``None`` or ``path:line: what was raised``,
    ``seconds`` what running it and saving its figures took, ``kernels`` the kernel set torch used
    (such as ``AVX2``; empty when not known)."""

    text: str
    figures: tuple[Figure, ...] = ()
    error: str | None = None
    seconds: float = 0.0
    kernels: str = ""

    @classmethod
    def from_worker(cls, example: Example, payload: dict) -> Result:
        """The result a worker sent (see [`capture`][snippets.pipeline.execute.capture]) as it
        arrives: each figure is given its file name.

        Examples:
            >>> payload = {"text": "1\\n", "figures": [{"alt": "", "data": {}, "svg": "<svg/>",
            ...            "svg_dark": "<svg/>"}], "error": None, "seconds": 0.5, "kernels": "AVX2"}
            >>> Result.from_worker(Example("m", "e", 1), payload).figures[0].file
            'e-1.svg'
        """
        figures = tuple(Figure(figure_file(example, i), f["alt"], f["data"], f["svg"], f["svg_dark"])
                        for i, f in enumerate(payload.get("figures", [])))
        return cls(payload["text"], figures, payload.get("error"), float(payload.get("seconds", 0.0)),
                   payload.get("kernels", ""))

    def to_json(self) -> dict:
        """The result as a cache entry holds it."""
        return {"text": self.text, "error": self.error, "seconds": self.seconds, "kernels": self.kernels,
                "figures": [{"file": f.file, "alt": f.alt, "data": f.data, "svg": f.svg, "dark_svg": f.dark_svg}
                            for f in self.figures]}

    @classmethod
    def from_json(cls, data) -> Result:
        """A result from a cache entry; a ``ValueError`` when it is not one (or a failed run's).

        Examples:
            >>> result = Result("1\\n", (Figure("e-1.svg", "a", {}, "<svg/>", "<svg/>"),), seconds=0.5)
            >>> Result.from_json(result.to_json()) == result
            True
            >>> Result.from_json({})
            Traceback (most recent call last):
            ...
            ValueError: not an example's result
        """
        try:
            figures = tuple(Figure(f["file"], f["alt"], f["data"], f["svg"], f["dark_svg"]) for f in data["figures"])
            result = cls(data["text"], figures, data["error"], data["seconds"], data["kernels"])
        except (KeyError, TypeError):
            raise ValueError("not an example's result") from None
        typed = (isinstance(result.text, str) and result.error is None and isinstance(result.seconds, (int, float))
                 and isinstance(result.kernels, str)
                 and all(isinstance(f.file, str) and isinstance(f.alt, str) and isinstance(f.data, dict)
                         and isinstance(f.svg, str) and isinstance(f.dark_svg, str) for f in figures))
        if not typed:
            raise ValueError("not an example's result")
        return result


@dataclass(frozen=True)
class Record:
    """What is committed of an example's output: the text it printed and its figures. ``digest``
    is what `make regen` signed it with (see [`verify`][snippets.pipeline.records.verify]); it is
    not part of the record's content."""

    text: str
    figures: tuple[RecordedFigure, ...] = ()
    digest: dict[str, str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, example: Example, result: Result) -> Record:
        """What is recorded of a run: its text and its figures' data, with plotted values below
        the example's ``floor`` (in magnitude) recorded as the floor.

        Examples:
            >>> Record.of(Example("m", "e", 1), Result("x = 2.5\\n"))
            Record(text='x = 2.5\\n', figures=())
            >>> plot = Figure("e-1.svg", "", {"axes0.line0": {"shape": [3], "values": [1.0, 2e-12, -0.0]}})
            >>> Record.of(Example("m", "e", 1, floor=1e-9), Result("", (plot,))).figures[0].data
            {'axes0.line0': {'shape': [3], 'values': [1.0, 1e-09, -1e-09]}}
        """
        return cls(result.text, tuple(figure.recorded(example.floor) for figure in result.figures))

    def to_json(self) -> dict:
        """The record's content as the records file holds it (without its digest)."""
        return {"text": self.text, "figures": [{"file": f.file, "alt": f.alt, "data": f.data} for f in self.figures]}

    @classmethod
    def from_json(cls, data: dict) -> Record:
        """A record as read from its file, digest included.

        Examples:
            >>> Record.from_json({"text": "1\\n", "figures": [{"file": "e-1.svg", "alt": "", "data": {}}],
            ...                   "digest": {"record": "x"}}).figures[0].dark_file
            'e-1-dark.svg'
        """
        return cls(data["text"], tuple(RecordedFigure(f["file"], f["alt"], f["data"]) for f in data["figures"]),
                   data.get("digest"))


def _floored(data: dict, floor: float) -> dict:
    """Plotted values with every magnitude below ``floor`` raised to it, sign kept."""
    if not floor:
        return data
    return {key: {name: [v if not abs(v) < floor else math.copysign(floor, v) for v in values]
                  if name != "shape" else values for name, values in plotted.items()}
            for key, plotted in data.items()}
