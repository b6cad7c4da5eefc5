"""Feedstocks: the repository a recipe becomes, rendered from ``feedstock-template/``."""

from arcoforge.feedstock.render import FeedstockConfig, Rendered, render, rerender
from arcoforge.feedstock.scaffold import guess_template, scaffold

__all__ = ["FeedstockConfig", "Rendered", "guess_template", "render", "rerender", "scaffold"]
