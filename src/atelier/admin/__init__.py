"""Admin (AiNFT's Admin/Indexers service, seed 001): accounts (roles, disabling, quota
overrides), moderation with reasons and appeals, the settings in force with secrets masked,
the indexers' and the task queue's state, and dead letters to retry."""

from atelier.core.modules import Module

MODULE = Module(
    name="admin",
    routers=("atelier.admin.api:router",),
    pages=("atelier.admin.pages:router",),
)
