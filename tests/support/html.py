"""Reading pages in tests: a small HTML tree (the standard library's parser) and the seed's words per language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

PRIVATE_NAME = "Classmethod, Inc. for SaaS 2026-01-01- Private Offer"


PUBLIC_NAME = "Trend Micro for SaaS"


#: the words the seed's screens use, per language
WORDS = {
    "en": {
        "continue": "Continue to Subscribe",
        "subscribe": "Subscribe",
        "current": " - current subscription",
        "setup": "Set up your account",
        "subscriptions": "AWS Marketplace Subscriptions",
        "manage": "Manage",
        "actions": "Actions",
        "cancel": "Cancel",
        "active": "Active",
        "cancelled": "Cancelled",
        "source_account": "Source account",
        "destination_account": "Destination account",
    },
    "ja": {
        "continue": "サブスクリプションを申し込む",
        "subscribe": "申し込む",
        "current": " - 現在のサブスクリプション",
        "setup": "アカウントを設定",
        "subscriptions": "AWS Marketplace サブスクリプション",
        "manage": "管理",
        "actions": "アクション",
        "cancel": "キャンセル",
        "active": "アクティブ",
        "cancelled": "キャンセル済み",
        "source_account": "切換元AWSアカウント",
        "destination_account": "切換先AWSアカウント",
    },
}


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class El:
    tag: str
    attrs: dict[str, str]
    children: list[El | str] = field(default_factory=list)

    def iter(self) -> Iterator[El]:
        yield self
        for c in self.children:
            if isinstance(c, El):
                yield from c.iter()

    @property
    def text(self) -> str:
        parts: list[str] = []

        def walk(el: El) -> None:
            for c in el.children:
                if isinstance(c, str):
                    parts.append(c)
                else:
                    walk(c)

        walk(self)
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    def all(self, tag: str | None = None, **attrs: str) -> list[El]:
        """Descendants with this tag and attributes (``data_testid=`` means ``data-testid``)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in want.items())
        ]

    def one(self, tag: str | None = None, **attrs: str) -> El:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag or '*'} {attrs}>, found {len(found)}"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = El("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = El(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(el)
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(El(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def html(response: httpx.Response) -> El:
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    assert "Traceback" not in response.text
    builder = _TreeBuilder()
    builder.feed(response.text)
    builder.close()
    return builder.root


def exact(url: str) -> re.Pattern[str]:
    """A URL to wait for, matched literally (Playwright reads a plain string as a glob)."""
    return re.compile("^" + re.escape(url) + "$")
