"""ClusterHeader: which cluster and namespace the panels show, always on screen; production is red."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["ClusterHeader", "cluster_header_text"]


def cluster_header_text(*, context: str, namespace: str | None, environment: str | None, production: bool,
                        server: str = "", hint: str = "") -> Text:
    """The header line: environment tag, context, namespace (or all), server, and a key hint."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if production:
        text.append(" PRODUCTION ", style="bold white on red")
    elif environment:
        text.append(f" {environment.upper()} ", style="bold black on green")
    else:
        text.append(" UNMAPPED ", style="bold black on yellow")
    text.append("  context ", style="dim")
    text.append(context or "(none)", style="bold red" if production else "bold")
    text.append("  namespace ", style="dim")
    text.append(namespace or "all namespaces", style="bold")
    if server:
        text.append("  server ", style="dim")
        text.append(server)
    if hint:
        text.append(f"  {hint}", style="dim")
    return text


class ClusterHeader(Static):
    """One line naming the context and namespace; the ``production`` class turns the frame red."""

    DEFAULT_CSS = """
    ClusterHeader { height: 1; padding: 0 1; background: $panel; }
    ClusterHeader.production { background: $error-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.context = ""
        self.namespace: str | None = None
        self.production = False

    def show(self, *, context: str, namespace: str | None, environment: str | None, production: bool,
             server: str = "", hint: str = "") -> None:
        """Say which context and namespace are on screen."""
        self.context, self.namespace, self.production = context, namespace, production
        self.set_class(production, "production")
        self.update(cluster_header_text(context=context, namespace=namespace, environment=environment,
                                        production=production, server=server, hint=hint))
