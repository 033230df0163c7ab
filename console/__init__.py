"""opsconsole's core: runbooks, the change journal, the engine and cluster access (the rehearsal cluster is kubesim).

Nothing in this package imports Textual: the console runs headless (line mode, scripts, tests) through it.
"""

__version__ = "0.1.0"
