"""Home and the start form by keys: an invalid runbook is reported, not opened; escape goes back with nothing written."""

from __future__ import annotations

from screens.app import OpsConsoleApp
from screens.home import HomeScreen


async def test_enter_on_an_invalid_runbook_reports_it_and_stays_home(records_dir, runbooks_dir, frozen_clock, policy, driver_for) -> None:
    broken = runbooks_dir / "aaa-broken.yaml"  # sorts first, so the cursor starts on it
    broken.write_text("apiVersion: opsconsole/v1\nkind: Runbook\nmetadata: {id: broken}\nsteps: not-a-list\n", encoding="utf-8")
    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, policy=policy, clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: isinstance(app.screen, HomeScreen), what="Home")
        table = app.screen.query_one("#runbooks")
        assert table.get_row_at(0)[0] == "aaa-broken"
        await d.press("enter")
        await d.wait(lambda: app._notifications, what="a notification")
        await pilot.pause()  # the notice and any screen it opened come from one handler: let what it queued run
        assert app.is_running and isinstance(app.screen, HomeScreen)
        note = list(app._notifications)[-1]
        assert note.severity == "error" and "aaa-broken.yaml" in note.message
        # The next runbook down still opens, and escape from its form goes back without writing anything.
        await d.press("down", "enter")
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        await d.press("escape")
        await d.wait(lambda: isinstance(app.screen, HomeScreen), what="Home again")
    assert not any(records_dir.iterdir())
