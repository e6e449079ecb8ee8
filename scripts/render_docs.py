"""Render the notebooks in nbs/ to a static HTML site in _docs/ without Quarto, from their stored outputs.

    make docs                                       # render, then check every page in headless Chromium
    .venv/bin/python scripts/render_docs.py         # render only: writes _docs/*.html and _docs/pages.json
    .venv/bin/python scripts/render_docs.py --nbs DIR --out DIR

`nbdev-docs` builds the real site where Quarto is installed (nbs/_quarto.yml). This script renders the same pages
with nbconvert so that the site can be built and checked offline. Nothing is executed: figures and tables are the
outputs stored in the notebooks. It keeps nbdev's conventions. The first cell's `# Title` and `> description`
become the page's title block. Cells marked `#| hide` or `#| include: false` are dropped, `#| echo: false` cells
show only their outputs and `#| output: false` cells only their code. Directive lines (`#| export`,
`#| default_exp`, ...) are not shown. Unlike nbdev with Quarto, `#| export` cells show their code rather than a
`show_doc` signature.
Pages are ordered as in the sidebar of nbs/_quarto.yml, get a navigation sidebar and a table of contents, and
links to notebooks (`00_adapters.ipynb`) point to their pages. Images are embedded as data URIs and math is
converted to MathML (latex2mathml), so the pages load no script, font or stylesheet from the network.
"""
import argparse
import html
import json
import re
import sys
import time
from pathlib import Path

import latex2mathml.converter
import nbformat
import yaml
from jinja2 import DictLoader, pass_context
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

ROOT = Path(__file__).resolve().parent.parent
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
DIRECTIVE = re.compile(r"^\s*#\s*\|\s*(.*?)\s*$")
# A relative link to a notebook or Quarto page, which is rewritten to the rendered page. URLs with a scheme stay.
PAGE_LINK = re.compile(r'(href=")(?![A-Za-z][A-Za-z0-9+.-]*:)([^"#?]*?)\.(?:ipynb|qmd)([#?][^"]*)?"')
HEADING = re.compile(r'<h([23]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)

PAGE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<meta name="description" content="{{ resources.site.description | e }}">
<link rel="icon" href="data:,">
<style type="text/css">{{ resources.site.css }}</style>
{%- endblock extra_css -%}
{%- block body_header -%}
<body class="site" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<header class="site-navbar"><a class="site-brand" href="{{ resources.site.pages[0].href }}">{{ resources.site.title | e }}</a>
<span class="site-tagline">{{ resources.site.tagline | e }}</span>
{%- if resources.site.repo_url %}<a class="site-repo" href="{{ resources.site.repo_url | e }}">Source</a>{% endif -%}
</header>
<div class="site-layout">
<nav class="site-sidebar" aria-label="Chapters"><ul>
{%- for item in resources.site.pages %}
<li><a href="{{ item.href }}"{% if item.href == resources.site.current %} class="active" aria-current="page"{% endif %}>{{ item.title | e }}</a></li>
{%- endfor %}
</ul></nav>
<main class="site-content jp-Notebook">
<header class="title-block"><h1 class="title">{{ resources.site.page_title | e }}</h1>
{%- if resources.site.page_description %}<p class="description">{{ resources.site.page_description | e }}</p>{% endif -%}
</header>
{%- endblock body_header -%}
{%- block body_footer -%}
<footer class="page-nav">
{%- if resources.site.prev %}<a class="prev" href="{{ resources.site.prev.href }}">&larr; {{ resources.site.prev.title | e }}</a>{% endif -%}
{%- if resources.site.next %}<a class="next" href="{{ resources.site.next.href }}">{{ resources.site.next.title | e }} &rarr;</a>{% endif -%}
</footer>
<p class="generated">Rendered by scripts/render_docs.py from nbs/{{ resources.site.notebook | e }} and its stored outputs.</p>
</main>
<nav class="site-toc" aria-label="On this page"><!--SITE-TOC--></nav>
</div>
</body>
{%- endblock body_footer -%}
"""

SITE_CSS = """
:root { --site-primary: #2780e3; --site-text: #212529; --site-muted: #6c757d; --site-border: #dee2e6; }
html { scroll-padding-top: 4.5rem; }
body.site { margin: 0; color: var(--site-text); background: #fff; overflow: visible;
  font: 16px/1.6 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
.site-navbar { position: sticky; top: 0; z-index: 10; display: flex; align-items: baseline; gap: 1rem;
  padding: 0.75rem 1.5rem; background: var(--site-primary); color: #fff; }
.site-navbar a { color: #fff; text-decoration: none; }
.site-brand { font-size: 1.25rem; font-weight: 600; }
.site-tagline { opacity: 0.85; font-size: 0.95rem; }
.site-repo { margin-left: auto; font-size: 0.95rem; }
.site-layout { display: grid; grid-template-columns: 15rem minmax(0, 52rem) 14rem; gap: 2rem;
  justify-content: center; padding: 0 1rem; }
.site-sidebar, .site-toc { position: sticky; top: 4rem; align-self: start; max-height: calc(100vh - 5rem);
  overflow-y: auto; padding-top: 2rem; font-size: 0.92rem; }
.site-sidebar ul, .site-toc ul { list-style: none; margin: 0; padding: 0; }
.site-sidebar li a { display: block; padding: 0.3rem 0.75rem; border-radius: 0.3rem; color: var(--site-text);
  text-decoration: none; }
.site-sidebar li a:hover { background: #f1f3f5; }
.site-sidebar li a.active { color: var(--site-primary); font-weight: 600; background: #e9f2fc; }
.site-toc .toc-title { font-weight: 600; margin-bottom: 0.5rem; }
.site-toc li a { display: block; padding: 0.15rem 0 0.15rem 0.75rem; border-left: 1px solid var(--site-border);
  color: var(--site-muted); text-decoration: none; }
.site-toc li a { overflow-wrap: anywhere; }
.site-toc li.toc-h3 a { padding-left: 1.5rem; font-size: 0.88rem; }
.site-toc li a:hover { color: var(--site-primary); }
main.site-content { padding: 2rem 0 3rem; overflow: visible; background: none; min-width: 0; }
.title-block { margin-bottom: 2rem; padding-bottom: 1rem; border-bottom: 1px solid var(--site-border); }
.title-block h1.title { font-size: 2.3rem; line-height: 1.2; margin: 0 0 0.5rem; font-weight: 600; }
.title-block p.description { margin: 0; color: var(--site-muted); font-size: 1.15rem; }
main.site-content .jp-Cell { padding: 0; margin: 0 0 0.75rem; }
main.site-content .jp-RenderedHTMLCommon { font-size: 1rem; line-height: 1.6; color: var(--site-text); padding-left: 0;
  padding-right: 0; }
main.site-content .jp-RenderedHTMLCommon h2 { font-size: 1.6rem; margin: 2rem 0 0.75rem;
  padding-bottom: 0.3rem; border-bottom: 1px solid var(--site-border); }
main.site-content .jp-RenderedHTMLCommon h3 { font-size: 1.3rem; margin: 1.5rem 0 0.5rem; }
main.site-content .jp-RenderedHTMLCommon a { color: var(--site-primary); }
main.site-content .jp-RenderedHTMLCommon code { background: #f1f3f5; padding: 0.1em 0.3em; border-radius: 0.2em;
  font-size: 0.9em; }
main.site-content .jp-RenderedHTMLCommon pre code { background: none; padding: 0; }
main.site-content .jp-RenderedHTMLCommon table { margin: 1rem 0; border-collapse: collapse; font-size: 0.92rem; }
main.site-content .jp-RenderedHTMLCommon th, main.site-content .jp-RenderedHTMLCommon td {
  border: 1px solid var(--site-border); padding: 0.3rem 0.6rem; }
main.site-content .jp-RenderedHTMLCommon thead th { background: #f8f9fa; }
main.site-content .jp-InputArea-editor { border: none; border-left: 3px solid #c9d7e8; border-radius: 0.25rem;
  background: #f8f9fa; }
main.site-content .jp-InputArea-editor .highlight pre { padding: 0.6rem 0.8rem; font-size: 0.85rem;
  white-space: pre-wrap; }
main.site-content .jp-OutputArea-output pre { font-size: 0.85rem; white-space: pre-wrap; }
main.site-content .jp-OutputArea-output img { max-width: 100%; height: auto; }
math[display="block"] { margin: 0.75rem 0; font-size: 1.1em; }
code.tex-fallback { color: #6f42c1; }
.page-nav { display: flex; justify-content: space-between; margin-top: 3rem; padding-top: 1rem;
  border-top: 1px solid var(--site-border); }
.page-nav a { color: var(--site-primary); text-decoration: none; }
.page-nav .next { margin-left: auto; }
.generated { color: var(--site-muted); font-size: 0.8rem; margin-top: 1.5rem; }
a.anchor-link { display: none; margin-left: 0.4rem; color: var(--site-muted); text-decoration: none; }
h2:hover > a.anchor-link, h3:hover > a.anchor-link, h4:hover > a.anchor-link { display: inline; }
@media (max-width: 75rem) { .site-layout { grid-template-columns: 13rem minmax(0, 1fr); } .site-toc { display: none; } }
@media (max-width: 50rem) {
  .site-layout { display: block; }
  .site-sidebar { position: static; max-height: none; padding-top: 1rem; }
  .site-sidebar ul { display: flex; flex-wrap: wrap; gap: 0.25rem; }
  .site-tagline { display: none; }
}
"""


def tex_to_html(tex: str, display: bool, stats: dict) -> str:
    """Return MathML for `tex`, or the TeX source in a `<code>` when latex2mathml cannot convert it."""
    mode = "block" if display else "inline"
    try:
        mathml = latex2mathml.converter.convert(tex, display=mode)
    except Exception:  # latex2mathml raises many exception types for TeX it does not know
        mathml = None
    if mathml is None or re.search(r">\s*\\[A-Za-z]+\s*<", mathml):  # an unknown command comes out as text
        stats["tex_fallbacks"].append(tex)
        delimiter = "$$" if display else "$"
        return f'<code class="tex-fallback">{html.escape(delimiter + tex + delimiter)}</code>'
    return mathml.replace("<math ", f'<math alttext="{html.escape(tex, quote=True)}" ', 1)


class MathMLRenderer(IPythonRenderer):
    """Render Markdown like nbconvert, but turn math into MathML instead of leaving it for MathJax."""

    def __init__(self, stats: dict, **kwargs):
        super().__init__(**kwargs)
        self.stats = stats

    def block_math(self, body: str) -> str:
        """Render `$$...$$` math."""
        return tex_to_html(body, True, self.stats)

    def inline_math(self, body: str) -> str:
        """Render `$...$` math."""
        return tex_to_html(body, False, self.stats)

    def latex_environment(self, name: str, body: str) -> str:
        """Render a `\\begin{name}...\\end{name}` block."""
        return tex_to_html(f"\\begin{{{name}}}{body}\\end{{{name}}}", True, self.stats)


class DocsExporter(HTMLExporter):
    """An HTML exporter with the site's page template and MathML math."""

    stats: dict = {}

    @pass_context
    def markdown2html(self, context, source):
        """Convert Markdown (cells and Markdown outputs) to HTML with MathML math."""
        cell = context.get("cell", {})
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
        renderer = MathMLRenderer(
            self.stats, escape=False, attachments=cell.get("attachments", {}), embed_images=True, path=path,
            anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
        )
        return MarkdownWithMath(renderer=renderer).render(source)


def parse_directives(source: str) -> tuple[dict, str]:
    """Split a code cell into its leading `#| key: value` directives and the code below them."""
    lines = source.splitlines()
    found = {}
    while lines and (match := DIRECTIVE.match(lines[0])):
        text = match.group(1)
        key, _, value = text.partition(":" if re.match(r"^[\w-]+\s*:", text) else " ")  # `echo: false`, `default_exp x`
        found[key.strip()] = value.strip()
        lines.pop(0)
    code = "\n".join(line for line in lines if not re.search(r"#\|\s*hide_line\s*$", line))
    return found, code.strip("\n")


def split_title(nb) -> tuple[str, str]:
    """Remove the first cell's `# Title` and `> description` from `nb` and return them, as nbdev's front matter does."""
    first = next((c for c in nb.cells if c.cell_type == "markdown" and c.source.strip()), None)
    if first is None or not first.source.lstrip().startswith("# "):
        return "", ""
    lines = first.source.strip().splitlines()
    title, rest = lines[0][2:].strip(), lines[1:]
    while rest and not rest[0].strip():
        rest.pop(0)
    description = []
    while rest and rest[0].startswith(">"):
        description.append(rest.pop(0).lstrip("> ").strip())
    first.source = "\n".join(rest).strip()
    if not first.source:
        nb.cells.remove(first)
    return title, " ".join(description)


def prepare(nb) -> dict:
    """Apply nbdev's display directives to `nb` in place and return what the page will show."""
    info = {"images": 0, "errors": 0}
    kept = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            kept.append(cell)
            continue
        found, code = parse_directives(cell.source)
        if "hide" in found or found.get("include") == "false":
            continue
        if found.get("output") == "false":
            cell.outputs = []
        cell.source = code
        if found.get("echo") == "false" or code.startswith("show_doc("):
            cell.metadata.setdefault("transient", {})["remove_source"] = True
        if not code and not cell.outputs:
            continue
        for output in cell.outputs:
            info["errors"] += output.output_type == "error"
            info["images"] += any(mime in output.get("data", {}) for mime in IMAGE_MIMES)
        kept.append(cell)
    nb.cells = kept
    nb.metadata.pop("widgets", None)
    return info


def sidebar_order(nbs: Path) -> list[str]:
    """Return the notebooks to render: the sidebar of `_quarto.yml` first, then any other notebook by name."""
    listed = []
    quarto = nbs / "_quarto.yml"
    if quarto.exists():
        config = yaml.safe_load(quarto.read_text()) or {}
        sidebar = (config.get("website") or {}).get("sidebar") or {}

        def walk(items):
            for item in items or []:
                if isinstance(item, str):
                    listed.append(item)
                elif isinstance(item, dict):
                    if "href" in item:
                        listed.append(item["href"])
                    walk(item.get("contents"))

        for section in sidebar if isinstance(sidebar, list) else [sidebar]:
            walk(section.get("contents"))
    present = sorted(p.name for p in nbs.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    order = [name for name in listed if name in present]
    for name in listed:
        if name.endswith(".ipynb") and name not in present:
            print(f"skipped {name}: {quarto.name} lists it, but it is not in {nbs}", file=sys.stderr)
    return order + [name for name in present if name not in order]


def toc_html(body: str) -> str:
    """Return the 'On this page' list for the h2 and h3 headings in `body`."""
    items = []
    for level, anchor, inner in HEADING.findall(body):
        label = html.unescape(re.sub(r"<[^>]+>", "", inner.replace("¶", ""))).strip()
        items.append(f'<li class="toc-h{level}"><a href="#{anchor}">{html.escape(label)}</a></li>')
    return '<div class="toc-title">On this page</div><ul>' + "".join(items) + "</ul>" if items else ""


def render_site(nbs: Path, out: Path) -> list[dict]:
    """Render every notebook in `nbs` to `out` and return one record per page."""
    quarto = yaml.safe_load((nbs / "_quarto.yml").read_text()) if (nbs / "_quarto.yml").exists() else {}
    website = (quarto or {}).get("website") or {}
    names = sidebar_order(nbs)
    if not names:
        raise SystemExit(f"no notebooks to render in {nbs}: expected index.ipynb and the chapters NN_name.ipynb")

    notebooks, pages = {}, []
    for name in names:
        nb = nbformat.read(nbs / name, as_version=4)
        title, description = split_title(nb)
        notebooks[name] = nb
        pages.append({"notebook": name, "page": Path(name).with_suffix(".html").name,
                      "title": title or Path(name).stem, "description": description})
    nav = [{"href": p["page"], "title": p["title"]} for p in pages]

    exporter = DocsExporter(template_name="lab", extra_loaders=[DictLoader({"site.html.j2": PAGE_TEMPLATE})],
                            template_file="site.html.j2", exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True, anchor_link_text="¶")
    out.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages):
        start = time.perf_counter()
        nb = notebooks[page["notebook"]]
        page.update(prepare(nb))
        nb.metadata["title"] = f"{page['title']} – {website.get('title', 'docs')}"
        exporter.stats = {"tex_fallbacks": []}
        site = {"title": website.get("title", ""), "tagline": website.get("description", ""),
                "description": page["description"] or website.get("description", ""),
                "repo_url": website.get("repo-url", ""), "css": SITE_CSS, "pages": nav, "current": page["page"],
                "page_title": page["title"], "page_description": page["description"], "notebook": page["notebook"],
                "prev": nav[i - 1] if i > 0 else None, "next": nav[i + 1] if i + 1 < len(nav) else None}
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": page["title"], "path": str(nbs)},
                                                             "site": site})
        body = PAGE_LINK.sub(lambda m: f'{m.group(1)}{m.group(2)}.html{m.group(3) or ""}"', body)
        body = body.replace("<!--SITE-TOC-->", toc_html(body), 1)
        (out / page["page"]).write_text(body, encoding="utf-8")
        page["tex_fallbacks"] = exporter.stats["tex_fallbacks"]
        page["seconds"] = round(time.perf_counter() - start, 2)
    return pages


def main(argv=None) -> int:
    """Render the site and print one line per page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="folder with the notebooks and _quarto.yml")
    parser.add_argument("--out", type=Path, default=ROOT / "_docs", help="folder to write the pages to")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    manifest = args.out / "pages.json"
    if manifest.exists():  # remove pages of notebooks that no longer exist, and nothing else
        for old in json.loads(manifest.read_text()).get("pages", []):
            (args.out / Path(old["page"]).name).unlink(missing_ok=True)
    pages = render_site(args.nbs, args.out)
    manifest.write_text(json.dumps({"nbs": str(args.nbs.resolve()), "pages": pages}, indent=1) + "\n")
    for page in pages:
        note = f", {len(page['tex_fallbacks'])} formulas left as TeX" if page["tex_fallbacks"] else ""
        note += f", {page['errors']} stored error outputs" if page["errors"] else ""
        print(f"rendered {page['page']:<22} {page['images']} figures{note} ({page['seconds']:.1f} s)")
        for tex in page["tex_fallbacks"]:
            print(f"  TeX kept as source (latex2mathml cannot convert it): {tex}")
    print(f"{len(pages)} pages in {args.out} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
