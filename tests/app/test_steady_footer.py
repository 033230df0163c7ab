"""SteadyFooter: it shows a screen's keys, follows the focus when the keys change, and keeps its
key widgets (no rebuild) when the screen publishes the same bindings again."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.widgets._footer import FooterKey

from screens.widgets.footer import SteadyFooter
from tests.support.wait import wait_on


class Search(Input):
    BINDINGS: ClassVar = [Binding("ctrl+f", "find", "Find")]

    def action_find(self) -> None:
        pass


class KeysScreen(Screen):
    BINDINGS: ClassVar = [Binding("f5", "expand", "Expand"), Binding("f6", "yank", "Yank")]
    footer_type: type[Footer] = SteadyFooter

    def compose(self) -> ComposeResult:
        yield Static("body", id="body")
        yield Search(id="search")
        yield self.footer_type()

    def action_expand(self) -> None:
        pass

    def action_yank(self) -> None:
        pass


class KeysApp(App):
    def __init__(self, footer_type: type[Footer] = SteadyFooter) -> None:
        super().__init__()
        self.footer_type = footer_type

    def on_mount(self) -> None:
        screen = KeysScreen()
        screen.footer_type = self.footer_type
        self.push_screen(screen)


def descriptions(screen: Screen) -> list[str]:
    return [key.description for key in screen.query(FooterKey)]


async def test_keys_shown_when_the_screen_opens() -> None:
    # (That they are in the first frame painted is checked by benchmarks/review.py on the record screen.)
    app = KeysApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await wait_on(pilot, lambda: isinstance(app.screen, KeysScreen) and {"Expand", "Yank"} <= set(descriptions(app.screen)),
                      what="the screen's keys in the footer")


async def test_same_bindings_published_again_keep_the_key_widgets() -> None:
    app = KeysApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await wait_on(pilot, lambda: isinstance(app.screen, KeysScreen) and descriptions(app.screen), what="the keys")
        await pilot.pause()
        before = list(app.screen.query(FooterKey))
        for _ in range(3):
            app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert list(app.screen.query(FooterKey)) == before
        assert all(key.is_attached for key in before)


async def test_plain_footer_rebuilds_on_the_same_bindings() -> None:
    # What SteadyFooter avoids: Textual's Footer replaces every key widget on each publication.
    app = KeysApp(footer_type=Footer)
    async with app.run_test(size=(80, 10)) as pilot:
        await wait_on(pilot, lambda: isinstance(app.screen, KeysScreen) and descriptions(app.screen), what="the keys")
        await pilot.pause()
        before = list(app.screen.query(FooterKey))
        app.screen.refresh_bindings()
        await wait_on(pilot, lambda: not any(key.is_attached for key in before), what="the keys rebuilt")


async def test_keys_follow_the_focus() -> None:
    app = KeysApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await wait_on(pilot, lambda: isinstance(app.screen, KeysScreen) and app.screen.focused is not None,
                      what="the search box focused on its own")
        await wait_on(pilot, lambda: "Find" in descriptions(app.screen), what="the focused input's key in the footer",
                      describe=lambda: f"footer shows {descriptions(app.screen)}")
        app.screen.set_focus(None)
        await wait_on(pilot, lambda: descriptions(app.screen)[:2] == ["Expand", "Yank"],
                      what="the input's key gone with the focus, the screen's keys shown",
                      describe=lambda: f"footer shows {descriptions(app.screen)}")
        app.screen.set_focus(app.screen.query_one("#search", Search))
        await wait_on(pilot, lambda: "Find" in descriptions(app.screen), what="the input's key back with the focus",
                      describe=lambda: f"footer shows {descriptions(app.screen)}")
