"""Automation (AiNFT's Automation service and workers, seed 001): rules of a trigger (an
event a member may see, a cron schedule, or a signed webhook), conditions on the trigger's
typed fields and actions (submit a job, cast as the platform, call a webhook, email the
owner), run in the task workers once per trigger with an execution log, rate limits, dry
runs, and loops cut off."""

from atelier.core.modules import Module

MODULE = Module(
    name="automation",
    models=("atelier.automation.models",),
    routers=("atelier.automation.api:router",),
    pages=("atelier.automation.pages:router",),
    tasks="atelier.automation.tasks",
)
