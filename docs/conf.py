"""The documentation site: `make docs` (Sphinx, MyST Markdown, pydata-sphinx-theme).

Built with warnings as errors and nitpicky references (Makefile: SPHINX_CHECKS); MyST's
heading anchors make `page.md#heading` links checkable, so a broken internal link or anchor
fails the build, and tests/test_docs.py builds it in `make test`.
"""
from __future__ import annotations

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

import pyshim
from pyshim import settings

project = "pyshim"
author = "the pyshim developers"
copyright = "the pyshim developers, Apache-2.0"
release = version = pyshim.__version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_heading_anchors = 3
nitpicky = True
# No network: external links are never fetched (Sphinx's `linkcheck` builder is not used).

html_theme = "pydata_sphinx_theme"
html_title = "pyshim"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
# The pages are few and flat: the top bar lists them, so no left sidebar; the page's own
# table of contents stays on the right.
html_sidebars = {"**": []}
html_static_path = ["_static"]
html_css_files = ["pyshim.css"]


class SettingsTable(SphinxDirective):
    """```{pyshim-settings} GROUP``` renders one group of pyshim/settings.py as a table."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        group = self.arguments[0]
        try:
            lines = settings.markdown_table(group)
        except ValueError as err:
            raise self.error(str(err)) from None
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="pyshim/settings.py"), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("pyshim-settings", SettingsTable)
    return {"parallel_read_safe": True}
