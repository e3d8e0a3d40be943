"""The web dashboard's frame: one layout, navigation, themes, static files, CSRF and the
template renderer that every domain's pages (`<domain>/pages.py`, templates in
`<domain>/templates/`) render through. Decision 0015."""

from atelier.core.modules import Module

MODULE = Module(name="web", routers=("atelier.web.frame:router",))
