"""Render nbs/index.ipynb to README.md without Quarto.

nbdev-readme needs Quarto, which is not installable offline. This keeps the same conventions: cells marked
`#| hide` are dropped, cells marked `#| echo: false` show only their outputs, Markdown outputs are inlined, and
figures are written to results/figures/ and linked.
"""
import base64
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def directives(source: str) -> set[str]:
    """Return the `#| ...` directives of a cell."""
    return {line[3:].strip() for line in source.splitlines() if line.startswith("#| ")}


FIGURES = ROOT / "results" / "figures"


def render_output(output, figures: list) -> str:
    """Return the Markdown for one code-cell output; a PNG figure is saved under results/figures/ and linked."""
    if output.output_type == "stream":
        return f"```\n{output.text.rstrip()}\n```"
    data = output.get("data", {})
    if "image/png" in data:
        FIGURES.mkdir(parents=True, exist_ok=True)
        path = FIGURES / f"readme_{len(figures) + 1}.png"
        path.write_bytes(base64.b64decode(data["image/png"]))
        figures.append(path)
        return f"![figure {len(figures)}]({path.relative_to(ROOT).as_posix()})"
    if "text/markdown" in data:
        return data["text/markdown"].strip()
    if "text/plain" in data and "image/png" not in data:
        return f"```\n{data['text/plain'].rstrip()}\n```"
    return ""


def render(notebook_path: Path) -> str:
    """Return README Markdown for the notebook at `notebook_path`."""
    notebook = nbformat.read(notebook_path, as_version=4)
    parts, figures = [], []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source.strip())
            continue
        if cell.cell_type != "code":
            continue
        flags = directives(cell.source)
        if "hide" in flags:
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("#|")).strip()
        if "echo: false" not in flags and code:
            parts.append(f"```python\n{code}\n```")
        parts.extend(text for text in (render_output(o, figures) for o in cell.get("outputs", [])) if text)
    # Links between notebooks are relative to nbs/; the README sits one level up.
    parts = [re.sub(r"\]\((\w+\.ipynb)\)", r"](nbs/\1)", part) for part in parts]
    header = "<!-- Generated from nbs/index.ipynb by scripts/render_readme.py; edit the notebook, not this file. -->"
    return header + "\n\n" + "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    target = ROOT / "README.md"
    target.write_text(render(ROOT / "nbs" / "index.ipynb"))
    print(f"wrote {target}", file=sys.stderr)
