"""The Chat's Markdown renderer (js/markdown.ts) in Chromium: streamed in chunks of any size it
ends as the whole text rendered at once, and what is already shown is not rebuilt per chunk."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = [
    "# Title\n\nSome **bold** text and a [link](https://example.org).\n\n- one\n- two\n\n"
    "| a | b |\n| --- | --- |\n| 1 | 2 |\n\n```python\ndef f():\n    return 1\n```\nafter\n",
    "Text before\n```js\nconst a = `x\n\ny`;\n```\nText right after\n\n1. one\n\n2. two\n"
    "   ```\n   nested\n\n   code\n   ```\n3. three\n",
    "~~~\n```\nnot closed by backticks\n```\n~~~\n\n> quote\n> ```\n> in quote\n> ```\n\n"
    "    indented code\n\n    more\n\nend *em* **st**",
    "````\n```\ninner\n```\n````\ndone\n\n- x\n  ```py\n  y = 1\n\n  z = 2\n  ```\n- w\n",
    "```python\nunterminated = 1\n",
]


@pytest.fixture(scope="module")
def renderer_page(browser: Any) -> Iterator[Any]:
    """A blank page with js/markdown.ts as `window.llmwMarkdown` (the build's aliases)."""
    out = Path(tempfile.mkdtemp()) / "markdown.js"
    subprocess.run(
        [
            str(ROOT / "node_modules/.bin/esbuild"),
            "js/markdown.ts",
            "--bundle",
            "--format=iife",
            "--global-name=llmwMarkdown",
            "--alias:entities=./js/shims/entities.ts",
            "--alias:linkify-it=./js/shims/linkify.ts",
            f"--outfile={out}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    page = browser.new_page()
    page.set_content("<div id=out></div>")
    page.add_script_tag(content=out.read_text())
    yield page
    page.close()


@pytest.mark.parametrize("doc", DOCS)
def test_a_streamed_answer_ends_as_the_whole_text_rendered(renderer_page: Any, doc: str) -> None:
    differences = renderer_page.evaluate(
        """(text) => {
          const out = document.getElementById("out");
          const flat = () => out.innerText.replace(/\\s+/g, " ").trim();
          const wrong = [];
          for (const size of [1, 2, 3, 5, 8, 13, 24, 60]) {
            const view = new window.llmwMarkdown.StreamingMarkdown(out);
            for (let at = 0; at < text.length; at += size) view.append(text.slice(at, at + size));
            const streamed = flat();
            view.finish();
            if (streamed !== flat()) wrong.push([size, streamed, flat()]);
          }
          return wrong;
        }""",
        doc,
    )
    assert differences == []


def test_what_is_shown_is_not_rebuilt_while_the_answer_grows(renderer_page: Any) -> None:
    kept = renderer_page.evaluate(
        """() => {
          const out = document.getElementById("out");
          const view = new window.llmwMarkdown.StreamingMarkdown(out);
          view.append("# Title\\n\\nFirst paragraph.\\n\\n```python\\nline_0 = 0\\n");
          const title = out.querySelector("h1");
          const firstLine = out.querySelector(".llmw-code-lines");
          for (let i = 1; i < 200; i++) view.append(`line_${i} = ${i}\\n`);
          const whileCode = firstLine !== null && out.querySelector("h1") === title
            && out.querySelector(".llmw-code-lines") === firstLine;
          view.append("```\\n\\nMore text.\\n\\nAnd more.\\n");
          return [whileCode, out.querySelector("h1") === title,
                  out.querySelector("code").textContent.split("\\n").length];
        }"""
    )
    assert kept == [True, True, 201]
