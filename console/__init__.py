"""opsconsole's core: runbooks, the change journal, the engine, cluster access and the rehearsal cluster.

Nothing in this package imports Textual: the console runs headless (line mode, scripts, tests) through it.
"""

__version__ = "0.1.0"
