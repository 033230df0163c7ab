"""opsconsole's Textual user interface: every screen and widget lives here."""
