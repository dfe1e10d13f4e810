"""Sphinx configuration of the skcausal_trust documentation.

Builds offline: the intersphinx mapping is empty, so references to
scikit-learn, fairlearn, numpy or pandas objects in docstrings render as
plain text (``nitpicky = False``), and the labels and glossary terms that
docstrings inherited from scikit-learn point at are handled by
``_resolve_sklearn_references`` below instead of an inventory.
"""

import os
import sys
from datetime import date

from docutils import nodes

# Document the source tree next to this directory even when the package is
# not installed (it usually is, in editable mode).
sys.path.insert(0, os.path.abspath(".."))

import skcausal_trust  # noqa: E402

# -- Project information -----------------------------------------------------

project = "skcausal-trust"
author = "skcausal_trust developers"
copyright = f"{date.today().year}, {author}"
release = skcausal_trust.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ---------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

# Offline builds: no inventories are fetched (fill the mapping to link other
# projects when the network is available). Cross-references to other
# projects' objects then stay unresolved and are rendered as text; nitpicky
# mode would turn each into a warning.
intersphinx_mapping = {}
nitpicky = False

# -- autodoc / autosummary / numpydoc ----------------------------------------

autosummary_generate = True
autosummary_generate_overwrite = True
autosummary_imported_members = False
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
add_module_names = False

# numpydoc renders the Parameters/Attributes sections; methods, inherited
# ones included, are documented by the class template (doc/_templates/
# class.rst) instead of numpydoc's member tables, which would duplicate them.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "doc_module": ("skcausal_trust",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skcausal_trust": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
}

# -- HTML output -------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skcausal-trust {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}

# -- References inside scikit-learn's docstrings ------------------------------

# Methods inherited from scikit-learn (``score``, ``set_fit_request``,
# ``set_output``, ...) keep their docstrings, which refer to labels and
# glossary terms of scikit-learn's documentation that only its intersphinx
# inventory defines. Offline, glossary terms and the labels below are linked
# to the scikit-learn website and other labels are rendered as text. Only
# references written in scikit-learn's docstrings are handled, so a broken
# reference in our own pages still fails the build.
SKLEARN_URL = "https://scikit-learn.org/stable/"
SKLEARN_LABELS = {
    "metadata_routing": "metadata_routing.html",
    "df_output_transform": "auto_examples/miscellaneous/plot_set_output.html",
    "sphx_glr_auto_examples_miscellaneous_plot_set_output.py": (
        "auto_examples/miscellaneous/plot_set_output.html"
    ),
    "accuracy_score": "modules/model_evaluation.html#accuracy-score",
}


def _resolve_sklearn_references(app, env, node, contnode):
    if node.get("refdomain") != "std" or node.get("reftype") not in ("ref", "term"):
        return None
    if "docstring of sklearn." not in (node.source or ""):
        return None
    target = node["reftarget"]
    if node["reftype"] == "term":
        uri = SKLEARN_URL + "glossary.html#term-" + target.lower().replace(" ", "-")
    elif target in SKLEARN_LABELS:
        uri = SKLEARN_URL + SKLEARN_LABELS[target]
    else:
        return contnode
    reference = nodes.reference("", "", internal=False, refuri=uri)
    reference += contnode
    return reference


def setup(app):
    app.connect("missing-reference", _resolve_sklearn_references)
